// activations kernels
export const activations_placeholder: i32 = 0;
