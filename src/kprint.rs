//! `print!`/`println!` over the SCLP console.

/// Print to the console.
macro_rules! print {
    ($($arg:tt)*) => { $crate::arch::s390x::sclp::print(format_args!($($arg)*)) };
}

/// Print a line to the console.
macro_rules! println {
    () => { print!("\n") };
    ($($arg:tt)*) => { $crate::arch::s390x::sclp::print(format_args!("{}\n", format_args!($($arg)*))) };
}
