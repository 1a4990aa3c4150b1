//! Run-time CPU dispatch for the pixel loops.
//!
//! The loops are written as plain Rust over blocks of planar values so that LLVM vectorises
//! them; [`simd_dispatch!`] compiles such a body twice, for the x86-64 baseline (SSE2) and for
//! AVX2, and picks the AVX2 build when the CPU has it (`is_x86_feature_detected!` caches the
//! answer). Both builds compute the same values: no FMA is enabled and Rust never contracts
//! float expressions, so the float arithmetic is the same operation for operation.

/// `fn $name(args)` running `$body` built for AVX2 when available, and `fn $base(args)` always
/// running the baseline build (for tests and benchmarks).
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $base:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    $base($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    unsafe { avx2($($arg),*) };
                    return;
                }
            }
            $base($($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] in the baseline build (no AVX2).")]
        #[inline(always)]
        $vis fn $base($($arg: $ty),*) $body
    };
}

pub(crate) use simd_dispatch;

/// `x` truncated toward zero and clipped to 0..=255 (NaN gives 0): C's `(UINT8)` after Pillow's
/// clip, and what `x as u8` does, but as two float ops and a plain conversion that vectorise
/// (LLVM scalarises Rust's saturating `as`).
#[inline(always)]
pub(crate) fn clip_trunc_u8(x: f32) -> u8 {
    let x = if x > 0.0 { x } else { 0.0 };
    let x = if x < 255.0 { x } else { 255.0 };
    // SAFETY: x is in [0, 255], representable as i32 after truncation.
    (unsafe { x.to_int_unchecked::<i32>() }) as u8
}
