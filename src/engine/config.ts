// The architecture hyper-parameters of a Llama/Qwen2 decoder, whatever file they came from.

export type Architecture = 'llama' | 'qwen2';

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  /** LM head shares the token embedding matrix. */
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2). */
  attentionBias: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
}

/** A dense float32 tensor, row-major; weights use the Hugging Face layout `[out, in]`. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}
