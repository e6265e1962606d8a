# plot.gp: charts from build/bench's CSV (make bench-plot).
#   gnuplot -e "csv='build/bench.csv'; outdir='build'" bench/plot.gp
# Writes outdir/bench-speedup.png (each fused kernel's speedup over its atomic chain,
# by size, 1 thread), outdir/bench-step-threads.png (time per training step against
# threads, engine and PyTorch, one panel per size) and outdir/bench-roofline.png (share
# of the same-run roof at each size, 1 thread and all threads).
#
# CSV columns used: 1 entry, 2 variant, 3 B, 4 H, 8 threads, 9 median_us, 13 speedup,
# 18 roof_pct, 23 torch_median_us.

if (!exists("csv")) csv = "build/bench.csv"
if (!exists("outdir")) outdir = "build"

set datafile separator ","
set datafile commentschars "#"
set terminal pngcairo size 1100,650 font "DejaVu Sans,11" noenhanced
set grid ytics mytics lw 0.5 lc rgb "#dddddd"
set key outside right top box opaque

# rows of (entry, variant) at a thread count, in file order (sizes in the run's order)
rows(entry, variant, threads) = sprintf("< awk -F, '$1 == \"%s\" && $2 == \"%s\" && $8 == %d' %s", \
    entry, variant, threads, csv)
# rows of (entry, variant) at size BxH, all thread counts
rows_at(entry, variant, size) = sprintf("< awk -F, '$1 == \"%s\" && $2 == \"%s\" && $3 \"x\" $4 == \"%s\"' %s", \
    entry, variant, size, csv)

sizes = system(sprintf("awk -F, '$1 == \"train_step\" && $2 == \"fused\" && $8 == 1 {print $3 \"x\" $4}' %s", csv))
if (strlen(sizes) == 0) sizes = system(sprintf("awk -F, '!/^#/ && $8 == 1 && !seen[$3 \"x\" $4]++ && NR > 1 {print $3 \"x\" $4}' %s", csv))
max_threads = system(sprintf("awk -F, '!/^#/ && NR > 1 && $8 + 0 > m {m = $8} END {print m + 0}' %s", csv)) + 0

# the fused side of each pair: entry, variant, label
pairs = "ce_backward:fused ce_forward_backward:fused bn_backward:fused bn_tanh_backward:fused embedding_backward:row_owner linear_backward:sgemm train_step:fused"
pentry(i) = substr(word(pairs, i), 1, strstrt(word(pairs, i), ":") - 1)
pvariant(i) = substr(word(pairs, i), strstrt(word(pairs, i), ":") + 1, strlen(word(pairs, i)))

# ---- 1: speedup of the fused kernel over its atomic / naive reference --------------
set output outdir . "/bench-speedup.png"
set title "fused over atomic: speedup per kernel (1 thread, median; higher is better)"
set xlabel "size B x H (V=27, T=3, E=10)"
set ylabel "speedup (x, log scale)"
set logscale y 2
set yrange [0.5:*]
set xtics rotate by 0
plot for [i = 1:words(pairs)] rows(pentry(i), pvariant(i), 1) \
        using 0:13:xtic(sprintf("%sx%s", strcol(3), strcol(4))) with linespoints lw 2 pt 7 \
        title pentry(i) . " " . pvariant(i), \
     1 with lines dt 2 lc rgb "#888888" title "1x"

# ---- 2: time per training step against threads, one panel per size ---------------
unset title
set output outdir . "/bench-step-threads.png"
set terminal pngcairo size 1200,800 font "DejaVu Sans,10" noenhanced
n = words(sizes)
cols = n > 1 ? 2 : 1
lines = (n + cols - 1) / cols
set multiplot layout lines, cols title "training step: time per step against threads (median; lower is better)"
set logscale y 10
set yrange [*:*]
set xrange [0.5:max_threads + 0.5]
set xtics 1 format "%g thr"
unset xlabel
set ylabel "us per step"
set key bmargin center horizontal noopaque nobox font ",9"
do for [k = 1:n] {
    s = word(sizes, k)
    set title "B x H = " . s
    plot rows_at("train_step", "fused", s) using 8:9 with linespoints lw 2 pt 7 title "engine fused", \
         rows_at("train_step", "atomic", s) using 8:9 with linespoints lw 2 pt 5 title "engine atomic", \
         rows_at("train_step", "fused", s) using 8:($23 > 0 ? $23 : NaN) with linespoints lw 2 dt 2 pt 6 title "torch manual", \
         rows_at("train_step", "atomic", s) using 8:($23 > 0 ? $23 : NaN) with linespoints lw 2 dt 2 pt 4 title "torch autograd"
}
unset multiplot

# ---- 3: roofline share --------------------------------------------------------------
set output outdir . "/bench-roofline.png"
set terminal pngcairo size 1100,650 font "DejaVu Sans,11" noenhanced
set title sprintf("share of the same-run roof (triad GB/s or sgemm GFLOP/s): 1 thread solid, %d dashed", max_threads)
unset logscale y
set yrange [0:*]
set xrange [*:*]
set xtics autofreq format "%g"
set xlabel "size B x H"
set ylabel "% of roof"
set key outside right top vertical box opaque font ",11"
plot for [i = 1:words(pairs)] rows(pentry(i), pvariant(i), 1) \
        using 0:18:xtic(sprintf("%sx%s", strcol(3), strcol(4))) with linespoints lw 2 pt 7 lc i \
        title pentry(i) . " " . pvariant(i), \
     for [i = 1:words(pairs)] rows(pentry(i), pvariant(i), max_threads) \
        using 0:18 with linespoints lw 2 dt 2 pt 6 lc i notitle, \
     70 with lines dt 3 lc rgb "#aa0000" title "70%"
