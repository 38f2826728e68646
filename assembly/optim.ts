// optim kernels
export const optim_placeholder: i32 = 0;
