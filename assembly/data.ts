// data kernels
export const data_placeholder: i32 = 0;
