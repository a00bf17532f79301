//! SCLP (service-call logical processor): the console and Read SCP Info (memory
//! size, CPU list). One 4 KiB SCCB below 2 GiB is shared behind a spin lock.
//!
//! A command SERVC accepts completes with a service-signal external
//! interruption, and until that is taken the SCLP answers "busy": each command
//! waits for it in an enabled wait with only that subclass (and the clock
//! comparator that bounds the wait) enabled, as Linux's early SCLP code does.
//! QEMU happens to complete synchronously; Hercules and real machines do not.
//!
//! The console is the ASCII event (type 0x1a) where the SCLP accepts it (QEMU),
//! otherwise line-mode messages (type 0x02) in EBCDIC (Hercules).
// `print!`/`println!` over this console, for the whole kernel (`#[macro_use]`
// on the modules up to here; defined before any module that prints).
/// Print to the console.
macro_rules! print {
    ($($arg:tt)*) => { $crate::arch::s390x::sclp::print(format_args!($($arg)*)) };
}

/// Print a line to the console.
macro_rules! println {
    () => { print!("\n") };
    ($($arg:tt)*) => { $crate::arch::s390x::sclp::print(format_args!("{}\n", format_args!($($arg)*))) };
}

use super::insn::{self, cr0};
use super::{ebcdic, lowcore};
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;
use volatile::VolatilePtr;

const CMD_WRITE_EVENT_MASK: u32 = 0x0078_0005;
const CMD_WRITE_EVENT_DATA: u32 = 0x0076_0005;
const CMD_READ_SCP_INFO: [u32; 2] = [0x0002_0001, 0x0012_0001];
const RESPONSE_OK: u16 = 0x0020;
/// Normal completion of a read command.
const RESPONSE_READ_OK: u16 = 0x0010;
const EVENT_ASCII: u8 = 0x1a;
/// Message event (line-mode console): an MDB holding one MTO of EBCDIC text.
const EVENT_MSG: u8 = 0x02;
/// Event mask bits of the ASCII console (type 0x1a) and of messages in a 4-byte mask.
const MASK_ASCII: u32 = 1 << (32 - EVENT_ASCII as u32);
const MASK_MSG: u32 = 1 << (32 - EVENT_MSG as u32);
/// How long a command may take to complete: 5 s of TOD clock.
const SCLP_WAIT_TOD: u64 = 5 * 4_096_000_000;
/// Busy answers tolerated per command (each one waits for a service signal).
const BUSY_RETRIES: u32 = 100;

/// Field offsets in an SCCB, named after Linux's structs
/// (`drivers/s390/char/sclp.h`, `sclp_early_core.c`).
mod field {
    /// `sccb_header.length` (u16).
    pub const LENGTH: usize = 0;
    /// `sccb_header.control_mask[2]` (u8): 0x80 allows a variable-length response.
    pub const CONTROL_MASK_2: usize = 5;
    /// `sccb_header.response_code` (u16).
    pub const RESPONSE_CODE: usize = 6;
    /// `init_sccb.mask_length` (u16), then the four masks of that length.
    pub const MASK_LENGTH: usize = 10;
    /// `init_sccb.receive_mask` (u32 here).
    pub const RECEIVE_MASK: usize = 12;
    /// `init_sccb.send_mask` (u32 here).
    pub const SEND_MASK: usize = 16;
    /// `init_sccb.sclp_receive_mask` (u32 here): the event types the SCLP accepts.
    pub const SCLP_RECEIVE_MASK: usize = 20;
    /// A message event's `mdb_header` (length, type 1, tag "MDB ", revision 1),
    /// then its `mto` (length, type 4, line-type flags, alarm, 3 reserved bytes)
    /// and the text (`sclp_early_print_lm`, without the optional `go`).
    pub const MDB: usize = 14;
    /// The `mto` object.
    pub const MTO: usize = 26;
    /// The message text.
    pub const MTO_TEXT: usize = 36;
    /// `evbuf_header.length` (u16) of the one event after the SCCB header.
    pub const EVBUF_LENGTH: usize = 8;
    /// `evbuf_header.type` (u8).
    pub const EVBUF_TYPE: usize = 10;
    /// The event's data, after its 6-byte `evbuf_header`.
    pub const EVBUF_DATA: usize = 14;
    /// `read_info_sccb.rnmax` (u16): storage increments, 0 if `rnmax2` holds it.
    pub const RNMAX: usize = 8;
    /// `read_info_sccb.rnsize` (u8): MiB per increment, 0 if `rnsize2` holds it.
    pub const RNSIZE: usize = 10;
    /// `read_info_sccb.ncpurl` (u16): CPU entries.
    pub const NCPURL: usize = 16;
    /// `read_info_sccb.cpuoff` (u16): offset of the CPU entries (16 bytes each,
    /// the CPU address first).
    pub const CPUOFF: usize = 18;
    /// `read_info_sccb.rnsize2` (u32).
    pub const RNSIZE2: usize = 100;
    /// `read_info_sccb.rnmax2` (u64).
    pub const RNMAX2: usize = 104;
}

/// Why an SCLP command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SclpError {
    /// SERVC answered cc 3: no SCLP.
    NotOperational,
    /// Still busy (cc 2) after the retry bound.
    Busy,
    /// The command completed with this response code, not a normal completion.
    Response(u16),
    /// No service-signal interruption within the bound.
    NoServiceSignal,
    /// The SCLP accepts neither the ASCII console nor messages.
    NoConsole,
}

impl fmt::Display for SclpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SclpError::NotOperational => write!(f, "SCLP not operational"),
            SclpError::Busy => write!(f, "SCLP still busy"),
            SclpError::Response(r) => write!(f, "SCLP response code {r:#06x}"),
            SclpError::NoServiceSignal => write!(f, "no SCLP service signal within 5 s"),
            SclpError::NoConsole => write!(f, "the SCLP takes neither ASCII nor message events"),
        }
    }
}

#[repr(C, align(4096))]
struct Sccb([u8; 4096]);

static SCCB: Mutex<Sccb> = Mutex::new(Sccb([0; 4096]));

/// Console writes the SCLP refused (a test asserts there are none).
pub static REFUSED_WRITES: AtomicU64 = AtomicU64::new(0);
/// Service-signal interruptions taken.
pub static SERVICE_SIGNALS: AtomicU64 = AtomicU64::new(0);
/// Whether the console writes line-mode messages (no ASCII event here).
static LINE_MODE: AtomicBool = AtomicBool::new(false);

/// Wait for the service signal that ends the command issued when `before`
/// signals had been taken, with only the service-signal and clock-comparator
/// subclasses enabled, at most [`SCLP_WAIT_TOD`].
fn wait_service_signal(before: u64) -> Result<(), SclpError> {
    let saved = insn::stctg::<0>();
    let tick = insn::stckc();
    let deadline = insn::stckf().saturating_add(SCLP_WAIT_TOD);
    insn::sckc(deadline);
    let only = (saved & !(cr0::EMERGENCY_SIGNAL | cr0::EXTERNAL_CALL)) | cr0::SERVICE_SIGNAL | cr0::CLOCK_COMPARATOR;
    // SAFETY: CR0 changes only interruption subclasses; the two enabled are
    // the ones handled below.
    unsafe { insn::lctlg::<0>(only) };
    let r = loop {
        if SERVICE_SIGNALS.load(Ordering::Acquire) != before {
            break Ok(());
        }
        if insn::stckf() >= deadline {
            break Err(SclpError::NoServiceSignal);
        }
        // SAFETY: only the two subclasses above can interrupt the wait.
        // Its parameter (the lowcore's EXT_PARAMS) names the SCCB; there is one.
        if unsafe { insn::wait_external() } == lowcore::EXT_SERVICE_SIGNAL {
            SERVICE_SIGNALS.fetch_add(1, Ordering::AcqRel);
        }
    };
    // SAFETY: restores the subclasses and the clock comparator (a working
    // CPU's tick) as they were.
    unsafe { insn::lctlg::<0>(saved) };
    insn::sckc(tick);
    r
}

impl Sccb {
    fn put<T: Copy>(&mut self, off: usize, v: T) {
        // SAFETY: offsets used below are in bounds and aligned for T; volatile so the
        // store is not elided before SERVC reads it.
        unsafe { VolatilePtr::new(NonNull::new_unchecked(self.0.as_mut_ptr().add(off) as *mut T)).write(v) }
    }
    fn get<T: Copy>(&self, off: usize) -> T {
        // SAFETY: as in `put`; volatile because SERVC wrote it behind the compiler.
        unsafe { VolatilePtr::new(NonNull::new_unchecked(self.0.as_ptr().add(off) as *mut T)).read() }
    }
    fn header(&mut self, len: u16) {
        self.0[..len as usize].fill(0);
        self.put::<u16>(field::LENGTH, len);
    }
    /// Issue `cmd` and wait for it to complete, waiting out a busy SCLP the
    /// same way; a normal completion is one of `ok`.
    fn call(&mut self, cmd: u32, ok: &[u16]) -> Result<(), SclpError> {
        for _ in 0..BUSY_RETRIES {
            let before = SERVICE_SIGNALS.load(Ordering::Acquire);
            // SAFETY: the SCCB is a 4 KiB aligned static in the identity-mapped kernel
            // image (below 2 GiB), held under the lock until the command completes.
            let cc = unsafe { insn::servc(cmd, self.0.as_ptr() as u64) };
            match cc {
                0 => {
                    wait_service_signal(before)?;
                    let rc = self.get::<u16>(field::RESPONSE_CODE);
                    return if ok.contains(&rc) {
                        Ok(())
                    } else {
                        Err(SclpError::Response(rc))
                    };
                }
                // Busy until the signal of an earlier command is taken.
                2 => wait_service_signal(before).map_err(|_| SclpError::Busy)?,
                _ => return Err(SclpError::NotOperational),
            }
        }
        Err(SclpError::Busy)
    }
}

/// What Read SCP Info reported.
#[derive(Clone, Copy, Debug)]
pub struct ScpInfo {
    /// Bytes of storage.
    pub memory: u64,
    /// Number of CPUs configured.
    pub cpus: usize,
    /// CPU addresses (first `cpus` are valid).
    pub cpu_addrs: [u16; 64],
}

/// Announce the console events (Write Event Mask) and pick the console: the
/// ASCII event where the SCLP accepts it, else line-mode messages.
pub fn init_console() -> Result<(), SclpError> {
    let mut s = SCCB.lock();
    s.header(28);
    s.put::<u16>(field::MASK_LENGTH, 4);
    s.put::<u32>(field::RECEIVE_MASK, MASK_ASCII);
    s.put::<u32>(field::SEND_MASK, MASK_ASCII | MASK_MSG);
    s.call(CMD_WRITE_EVENT_MASK, &[RESPONSE_OK])?;
    let accepts = s.get::<u32>(field::SCLP_RECEIVE_MASK);
    match (accepts & MASK_ASCII != 0, accepts & MASK_MSG != 0) {
        (true, _) => Ok(()),
        (false, true) => {
            LINE_MODE.store(true, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(SclpError::NoConsole),
    }
}

/// Whether the console writes line-mode messages (in EBCDIC) instead of ASCII.
pub fn line_mode() -> bool {
    LINE_MODE.load(Ordering::Relaxed)
}

/// Most text bytes one message carries (what fits in the SCCB).
const MSG_TEXT_MAX: usize = 4096 - field::MTO_TEXT;

impl Sccb {
    /// One Write Event Data of `event` whose data is `data` (the event header
    /// written here), already in place from [`field::EVBUF_DATA`] on.
    fn write_event(&mut self, event: u8, data: usize) -> Result<(), SclpError> {
        let len = field::EVBUF_DATA + data;
        self.put::<u16>(field::LENGTH, len as u16);
        self.put::<u16>(field::EVBUF_LENGTH, (len - field::EVBUF_LENGTH) as u16);
        self.put::<u8>(field::EVBUF_TYPE, event);
        self.call(CMD_WRITE_EVENT_DATA, &[RESPONSE_OK])
    }
    /// One line-mode message of `text` (ASCII, translated to EBCDIC).
    fn write_message(&mut self, text: &[u8]) -> Result<(), SclpError> {
        let n = text.len();
        self.0[..field::MTO_TEXT + n].fill(0);
        let be16 = |v: usize| (v as u16).to_be_bytes();
        self.0[field::MDB..field::MDB + 2].copy_from_slice(&be16(field::MTO_TEXT - field::MDB + n));
        self.0[field::MDB + 2..field::MDB + 4].copy_from_slice(&be16(1));
        self.0[field::MDB + 4..field::MDB + 8].copy_from_slice(&[0xd4, 0xc4, 0xc2, 0x40]); // "MDB "
        self.0[field::MDB + 8..field::MDB + 12].copy_from_slice(&1u32.to_be_bytes());
        self.0[field::MTO..field::MTO + 2].copy_from_slice(&be16(field::MTO_TEXT - field::MTO + n));
        self.0[field::MTO + 2..field::MTO + 4].copy_from_slice(&be16(4));
        self.0[field::MTO + 4..field::MTO + 6].copy_from_slice(&0x1000u16.to_be_bytes()); // end of text
        for (d, &c) in self.0[field::MTO_TEXT..].iter_mut().zip(text) {
            *d = ebcdic::from_ascii(c);
        }
        self.write_event(EVENT_MSG, field::MTO_TEXT - field::EVBUF_DATA + n)
    }
}

/// Write raw bytes to the console; the first refusal ends the write. Line mode
/// sends one message per line (an empty line as one blank), a line too long
/// for one SCCB in several.
pub fn write_bytes(bytes: &[u8]) -> Result<(), SclpError> {
    let mut s = SCCB.lock();
    if !line_mode() {
        for chunk in bytes.chunks(2048) {
            s.0[..field::EVBUF_DATA].fill(0);
            s.0[field::EVBUF_DATA..field::EVBUF_DATA + chunk.len()].copy_from_slice(chunk);
            s.write_event(EVENT_ASCII, chunk.len())?;
        }
        return Ok(());
    }
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for line in text.split(|&b| b == b'\n') {
        let line = if line.is_empty() { &b" "[..] } else { line };
        for chunk in line.chunks(MSG_TEXT_MAX) {
            s.write_message(chunk)?;
        }
    }
    Ok(())
}

/// Read SCP Info: memory size and CPUs (the first of the two command codes the
/// SCLP accepts, as Linux's `sclp_early_read_info` tries them).
pub fn read_scp_info() -> Result<ScpInfo, SclpError> {
    let mut s = SCCB.lock();
    let mut err = SclpError::NotOperational;
    for cmd in CMD_READ_SCP_INFO {
        s.header(4096);
        s.put::<u8>(field::CONTROL_MASK_2, 0x80);
        if let Err(e) = s.call(cmd, &[RESPONSE_OK, RESPONSE_READ_OK]) {
            err = e;
            continue;
        }
        let rnmax = s.get::<u16>(field::RNMAX) as u64;
        let rnsize = s.get::<u8>(field::RNSIZE) as u64;
        let rnsize = if rnsize == 0 {
            s.get::<u32>(field::RNSIZE2) as u64
        } else {
            rnsize
        };
        let rnmax = if rnmax == 0 { s.get::<u64>(field::RNMAX2) } else { rnmax };
        let cpus = s.get::<u16>(field::NCPURL) as usize;
        let off = s.get::<u16>(field::CPUOFF) as usize;
        let mut info = ScpInfo {
            memory: (rnmax * rnsize) << 20,
            cpus: cpus.min(64),
            cpu_addrs: [0; 64],
        };
        for i in 0..info.cpus {
            info.cpu_addrs[i] = s.get::<u8>(off + 16 * i) as u16;
        }
        return Ok(info);
    }
    Err(err)
}

/// Line-buffered console writer.
pub struct Console {
    buf: [u8; 512],
    len: usize,
}

impl Console {
    const fn new() -> Self {
        Self { buf: [0; 512], len: 0 }
    }
    /// Send buffered bytes.
    pub fn flush(&mut self) {
        if self.len > 0 {
            if write_bytes(&self.buf[..self.len]).is_err() {
                REFUSED_WRITES.fetch_add(1, Ordering::Relaxed);
            }
            self.len = 0;
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// The console, behind a spin lock (`print!`/`println!` take it).
pub static CONSOLE: Mutex<Console> = Mutex::new(Console::new());

/// Print formatted text (used by the `print!` macros).
pub fn print(args: fmt::Arguments) {
    use fmt::Write;
    let mut c = CONSOLE.lock();
    let _ = c.write_fmt(args);
}

/// Say why on the console (even if a CPU died holding it), then stop this CPU
/// in the failure wait: the end of `halt::exit_failure` once the other CPUs
/// are stopped, and of code below `halt` that stops them itself.
pub fn fail(why: &str) -> ! {
    print_fatal(format_args!("kernel: stopping with failure: {why}\n"));
    insn::disabled_wait(0xbad)
}

/// Take the console even if a CPU died holding it (fatal paths only).
pub fn print_fatal(args: fmt::Arguments) {
    use fmt::Write;
    if CONSOLE.is_locked() {
        // SAFETY: only called on the way to stopping the machine; a writer that was
        // interrupted mid-line at worst interleaves output.
        unsafe { CONSOLE.force_unlock() };
    }
    if SCCB.is_locked() {
        // SAFETY: as above; at worst an interrupted command's SCCB is reused,
        // and its late service signal ends a wait early.
        unsafe { SCCB.force_unlock() };
    }
    let mut c = CONSOLE.lock();
    let _ = c.write_fmt(args);
    c.flush();
}
