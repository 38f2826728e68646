// loss kernels
export const loss_placeholder: i32 = 0;
