//! SCLP (service-call logical processor): the ASCII console (event type 0x1a) and
//! Read SCP Info (memory size, CPU list). One 4 KiB SCCB below 2 GiB is shared
//! behind a spin lock; commands are polled to completion (QEMU completes SERVC
//! synchronously, and we check the response code rather than trust it).
use super::insn;
use core::fmt;
use core::ptr::NonNull;
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

#[repr(C, align(4096))]
struct Sccb([u8; 4096]);

static SCCB: Mutex<Sccb> = Mutex::new(Sccb([0; 4096]));

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
        self.put::<u16>(0, len);
    }
    /// Issue `cmd`, retrying while busy. Returns the SCLP response code.
    fn call(&mut self, cmd: u32) -> u16 {
        for _ in 0..1_000_000 {
            // SAFETY: the SCCB is a 4 KiB aligned static in the identity-mapped kernel
            // image (below 2 GiB), held under the lock until the command completes.
            let cc = unsafe { insn::servc(cmd, self.0.as_ptr() as u64) };
            match cc {
                0 => return self.get::<u16>(6),
                2 => core::hint::spin_loop(),
                _ => return 0xffff,
            }
        }
        0xfffe
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

/// Enable the ASCII console's send mask. Returns the SCLP response code.
pub fn init_console() -> u16 {
    let mut s = SCCB.lock();
    s.header(28);
    s.put::<u16>(10, 4); // mask length
    s.put::<u32>(12, MASK_ASCII); // cp receive mask
    s.put::<u32>(16, MASK_ASCII); // cp send mask
    s.call(CMD_WRITE_EVENT_MASK)
}

/// Write raw bytes to the ASCII console.
pub fn write_bytes(bytes: &[u8]) -> u16 {
    let mut rc = 0x0020;
    let mut s = SCCB.lock();
    for chunk in bytes.chunks(2048) {
        let len = 8 + 6 + chunk.len();
        s.header(len as u16);
        s.put::<u16>(8, (6 + chunk.len()) as u16);
        s.put::<u8>(10, EVENT_ASCII);
        s.0[14..len].copy_from_slice(chunk);
        rc = s.call(CMD_WRITE_EVENT_DATA);
    }
    rc
}

/// Read SCP Info: memory size and CPUs.
pub fn read_scp_info() -> Option<ScpInfo> {
    let mut s = SCCB.lock();
    for cmd in CMD_READ_SCP_INFO {
        s.header(4096);
        s.put::<u8>(5, 0x80); // variable-length response allowed
        let rc = s.call(cmd);
        if rc != RESPONSE_OK && rc != RESPONSE_READ_OK {
            drop(s);
            print(format_args!("sclp: read SCP info {cmd:#010x}: response {rc:#06x}\n"));
            s = SCCB.lock();
            continue;
        }
        let rnmax = s.get::<u16>(8) as u64;
        let rnsize = s.get::<u8>(10) as u64;
        let rnsize = if rnsize == 0 { s.get::<u32>(100) as u64 } else { rnsize };
        let rnmax = if rnmax == 0 { s.get::<u64>(104) } else { rnmax };
        let cpus = s.get::<u16>(16) as usize;
        let off = s.get::<u16>(18) as usize;
        let mut info = ScpInfo {
            memory: (rnmax * rnsize) << 20,
            cpus: cpus.min(64),
            cpu_addrs: [0; 64],
        };
        for i in 0..info.cpus {
            info.cpu_addrs[i] = s.get::<u8>(off + 16 * i) as u16;
        }
        return Some(info);
    }
    None
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
            let _ = write_bytes(&self.buf[..self.len]);
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
