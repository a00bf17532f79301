//! SCLP (service-call logical processor): the ASCII console (event type 0x1a) and
//! Read SCP Info (memory size, CPU list). One 4 KiB SCCB below 2 GiB is shared
//! behind a spin lock; commands are polled to completion (QEMU completes SERVC
//! synchronously, and we check the response code rather than trust it).
use super::insn;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use volatile::VolatilePtr;

const CMD_WRITE_EVENT_MASK: u32 = 0x0078_0005;
const CMD_WRITE_EVENT_DATA: u32 = 0x0076_0005;
const CMD_READ_SCP_INFO: [u32; 2] = [0x0002_0001, 0x0012_0001];
const RESPONSE_OK: u16 = 0x0020;
/// Normal completion of a read command.
const RESPONSE_READ_OK: u16 = 0x0010;
const EVENT_ASCII: u8 = 0x1a;
/// Event mask bit of the ASCII console (type 0x1a) in a 4-byte mask.
const MASK_ASCII: u32 = 1 << (32 - EVENT_ASCII as u32);

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
}

impl fmt::Display for SclpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SclpError::NotOperational => write!(f, "SCLP not operational"),
            SclpError::Busy => write!(f, "SCLP still busy"),
            SclpError::Response(r) => write!(f, "SCLP response code {r:#06x}"),
        }
    }
}

#[repr(C, align(4096))]
struct Sccb([u8; 4096]);

static SCCB: Mutex<Sccb> = Mutex::new(Sccb([0; 4096]));

/// Console writes the SCLP refused (a test asserts there are none).
pub static REFUSED_WRITES: AtomicU64 = AtomicU64::new(0);

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
    /// Issue `cmd`, retrying while busy; a normal completion is one of `ok`.
    fn call(&mut self, cmd: u32, ok: &[u16]) -> Result<(), SclpError> {
        for _ in 0..1_000_000 {
            // SAFETY: the SCCB is a 4 KiB aligned static in the identity-mapped kernel
            // image (below 2 GiB), held under the lock until the command completes.
            let cc = unsafe { insn::servc(cmd, self.0.as_ptr() as u64) };
            match cc {
                0 => {
                    let rc = self.get::<u16>(field::RESPONSE_CODE);
                    return if ok.contains(&rc) {
                        Ok(())
                    } else {
                        Err(SclpError::Response(rc))
                    };
                }
                2 => core::hint::spin_loop(),
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

/// Enable the ASCII console's send and receive masks (Write Event Mask).
pub fn init_console() -> Result<(), SclpError> {
    let mut s = SCCB.lock();
    s.header(28);
    s.put::<u16>(field::MASK_LENGTH, 4);
    s.put::<u32>(field::RECEIVE_MASK, MASK_ASCII);
    s.put::<u32>(field::SEND_MASK, MASK_ASCII);
    s.call(CMD_WRITE_EVENT_MASK, &[RESPONSE_OK])
}

/// Write raw bytes to the ASCII console; the first refusal ends the write.
pub fn write_bytes(bytes: &[u8]) -> Result<(), SclpError> {
    let mut s = SCCB.lock();
    for chunk in bytes.chunks(2048) {
        let len = field::EVBUF_DATA + chunk.len();
        s.header(len as u16);
        s.put::<u16>(field::EVBUF_LENGTH, (len - field::EVBUF_LENGTH) as u16);
        s.put::<u8>(field::EVBUF_TYPE, EVENT_ASCII);
        s.0[field::EVBUF_DATA..len].copy_from_slice(chunk);
        s.call(CMD_WRITE_EVENT_DATA, &[RESPONSE_OK])?;
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

/// Take the console even if a CPU died holding it (fatal paths only).
pub fn print_fatal(args: fmt::Arguments) {
    use fmt::Write;
    if CONSOLE.is_locked() {
        // SAFETY: only called on the way to stopping the machine; a writer that was
        // interrupted mid-line at worst interleaves output.
        unsafe { CONSOLE.force_unlock() };
    }
    if SCCB.is_locked() {
        // SAFETY: as above; the interrupted SERVC has completed (it is synchronous).
        unsafe { SCCB.force_unlock() };
    }
    let mut c = CONSOLE.lock();
    let _ = c.write_fmt(args);
    c.flush();
}
