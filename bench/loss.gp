# loss.gp: the lecture's training curve from `makemore train --log FILE` (step,loss CSV):
# log10 of the loss averaged over each block of 1000 steps.
#   gnuplot -e "in='build/loss.csv'; out='build/loss.png'" bench/loss.gp
if (!exists("in")) in = 'build/loss.csv'
if (!exists("out")) out = 'build/loss.png'
set datafile separator ','
set terminal pngcairo size 900,500
set output out
set title 'training loss (log10, mean over 1000 steps)'
set xlabel 'step'
set ylabel 'log10 loss'
set grid
plot in every ::1 using (floor($1/1000)*1000):(log10($2)) smooth unique with lines lw 2 notitle
