// mm_ref.h: the float64 twins of makemore.py's six models (bigram, mlp, bow, rnn, gru,
// transformer), the referees of `makemore gradcheck --arch T` and of the engine's tests.
// Each twin is plain loops in double (no BLAS, no engine kernel), written from makemore.py's
// classes: the same parameters under makemore.py's state_dict names, in its order and in
// PyTorch's layouts (an nn.Linear weight is [out, in]; buffers such as the attention masks
// are not parameters and are not listed).
//
// The data, as makemore.py's CharDataset: X, Y [B,T] with T = block_size; X in 0..V-1,
// Y in -1..V-1, where -1 marks a position the loss ignores. The loss is the mean
// cross-entropy over the positions with Y >= 0 (F.cross_entropy(..., ignore_index=-1)).
#ifndef MAKEMORE_MM_REF_H
#define MAKEMORE_MM_REF_H

typedef enum { MM_BIGRAM, MM_MLP, MM_BOW, MM_RNN, MM_GRU, MM_TRANSFORMER, MM_N_TYPES } MmType;

typedef struct {
    MmType type;
    int V;        // vocab_size (makemore.py: characters + 1)
    int T;        // block_size (makemore.py: the longest word + 1)
    int n_layer;  // transformer
    int n_head;   // transformer
    int n_embd;   // every type but bigram
    int n_embd2;  // mlp, bow, rnn, gru
} MmConfig;

#define MM_NAME_MAX 64
typedef struct {
    char name[MM_NAME_MAX];  // "transformer.h.0.attn.c_attn.weight"
    int ndim;                // 1 or 2
    int shape[2];            // PyTorch's: [3C, C] for that weight
} MmTensorInfo;

// The parameters of c's model in state_dict order into out[0..max); returns their count
// (also when it exceeds max: then only max are written).
int mm_tensors(const MmConfig *c, MmTensorInfo *out, int max);

// The mean loss in double of c's model with parameters P (P[i]: tensor i of mm_tensors, its
// shape's elements row-major) on X, Y [B,T]. G (may be NULL): G[i] receives the gradient of
// tensor i, overwritten. Returns NAN when no position of Y is >= 0.
double mm_ref_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y, int B,
                   double *const *G);

// The twins' shared loss: mean cross-entropy in double of logits [N,V] against Y [N]
// (Y < 0 ignored); dlogits (may be NULL) [N,V] receives its gradient (0 on ignored rows).
// Returns NAN when no row counts.
double mm_ref_ce(const double *logits, const int *Y, int N, int V, double *dlogits);

// Tensor i of a twin's list (written when i < max): name, ndim, and PyTorch's shape [s0] or
// [s0, s1] (s1 ignored when ndim is 1).
void mm_ref_info(MmTensorInfo *out, int max, int i, const char *name, int ndim, int s0, int s1);
// nn.Linear in double: out[n,o] = b[o] + sum_i W[o,i] in[n,i]     W [n_out, n_in], b [n_out]
void mm_ref_linear(double *out, const double *in, const double *W, const double *b, int N,
                   int n_in, int n_out);
// Its backward: dW = dout^T in and db = sum_n dout (overwritten); din += dout W (accumulated,
// din may be NULL).
void mm_ref_linear_back(double *din, double *dW, double *db, const double *dout, const double *in,
                        const double *W, int N, int n_in, int n_out);

// One per type, as mm_tensors and mm_ref_loss for c->type (the dispatch is mm_ref.c).
int mm_ref_bigram_tensors(const MmConfig *c, MmTensorInfo *out, int max);
double mm_ref_bigram_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                          int B, double *const *G);
int mm_ref_mlp_tensors(const MmConfig *c, MmTensorInfo *out, int max);
double mm_ref_mlp_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G);
int mm_ref_bow_tensors(const MmConfig *c, MmTensorInfo *out, int max);
double mm_ref_bow_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G);
int mm_ref_rnn_tensors(const MmConfig *c, MmTensorInfo *out, int max);   // rnn and gru
double mm_ref_rnn_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G);                         // rnn and gru
int mm_ref_transformer_tensors(const MmConfig *c, MmTensorInfo *out, int max);
double mm_ref_transformer_loss(const MmConfig *c, const double *const *P, const int *X,
                               const int *Y, int B, double *const *G);

#endif
