// gemm kernels
export const gemm_placeholder: i32 = 0;
