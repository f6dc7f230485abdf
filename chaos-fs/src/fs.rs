//! The FUSE file system: `fuser::Filesystem` over the store (`store`) and
//! the faults (`faults`), and the freeze. It owns the mapping of kernel
//! requests onto store operations, `direct_io` on every open file (so that
//! every read and write reaches chaos-fs, and a fault on reads cannot be
//! answered by the kernel's page cache) with `FUSE_DIRECT_IO_ALLOW_MMAP`
//! (so that databases that mmap their files still can), and the order
//! "gate, delay, fault, store": a frozen file system answers nothing, a
//! delay sleeps outside every lock, and no store operation starts once a
//! freeze has returned.

use std::ffi::OsStr;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use crate::faults::{Faults, Op, Verdict};
use crate::store::{Attr, Kind, NodeId, Store, Torn};

/// How long the kernel may cache names and attributes.
const TTL: Duration = Duration::from_secs(1);

/// What the file system and the control socket share.
#[derive(Debug)]
pub struct Shared {
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    frozen: AtomicBool,
    freeze_lock: Mutex<bool>,
    thaw: Condvar,
    /// Whether the kernel granted FUSE_DIRECT_IO_ALLOW_MMAP.
    pub mmap_allowed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Shares a store with no fault set.
    pub fn new(store: Store) -> Arc<Shared> {
        Arc::new(Shared {
            store: Mutex::new(store),
            faults: Mutex::new(Faults::default()),
            frozen: AtomicBool::new(false),
            freeze_lock: Mutex::new(false),
            thaw: Condvar::new(),
            mmap_allowed: AtomicBool::new(false),
        })
    }

    /// Blocks while frozen.
    fn gate(&self) {
        let mut f = lock(&self.freeze_lock);
        while *f {
            f = self.thaw.wait(f).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Runs `f` on the store, never once a freeze has taken effect.
    fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        loop {
            self.gate();
            let mut s = lock(&self.store);
            if !self.frozen.load(Ordering::SeqCst) {
                return f(&mut s);
            }
        }
    }

    /// Freezes: from now on no request is answered and no store operation
    /// starts; with `torn`, a prefix of `keep(range)` bytes of the last
    /// unsynced write is written first (after every operation in flight).
    pub fn freeze(&self, torn: Option<&dyn Fn(u64) -> u64>) -> io::Result<Option<Torn>> {
        *lock(&self.freeze_lock) = true;
        self.frozen.store(true, Ordering::SeqCst);
        // Wait for the operation in flight, if any; none starts after.
        let mut s = lock(&self.store);
        match torn {
            Some(keep) => {
                let range = s.torn_range()?;
                s.tear(keep(range))
            }
            None => Ok(None),
        }
    }

    /// Lifts a freeze.
    pub fn thaw(&self) {
        let mut f = lock(&self.freeze_lock);
        *f = false;
        self.frozen.store(false, Ordering::SeqCst);
        self.thaw.notify_all();
    }

    /// Whether frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// The faults, to set or read.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// The store, for status and shutdown (waits for an operation in
    /// flight; ignores a freeze).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// The file system handed to fuser.
#[derive(Debug)]
pub struct ChaosFs {
    shared: Arc<Shared>,
}

impl ChaosFs {
    /// A file system over the shared state.
    pub fn new(shared: Arc<Shared>) -> ChaosFs {
        ChaosFs { shared }
    }

    /// The gate, then the faults' verdict for `op` on `node` (slept
    /// already): Err(errno) to answer with.
    fn enter(
        &self,
        op: Op,
        node: NodeId,
        name: Option<&OsStr>,
        len: u64,
    ) -> Result<Verdict, Errno> {
        self.shared.gate();
        let verdict = {
            let mut faults = self.shared.faults();
            let path = if faults.wants_path() {
                let s = self.shared.store();
                s.visible_path(node).map(|p| match name {
                    Some(n) => p.join(n),
                    None => p,
                })
            } else {
                None
            };
            let path = path.as_ref().map(|p| p.to_string_lossy().into_owned());
            faults.decide(op, path.as_deref(), len)
        };
        if let Some(d) = verdict.delay {
            std::thread::sleep(d);
        }
        match verdict.errno {
            Some(e) => Err(Errno::from_i32(e)),
            None => Ok(verdict),
        }
    }
}

fn err(e: io::Error) -> Errno {
    Errno::from(e)
}

fn file_attr(a: &Attr) -> FileAttr {
    let (kind, nlink) = match a.kind {
        Kind::Dir => (FileType::Directory, 2),
        Kind::File => (FileType::RegularFile, 1),
    };
    FileAttr {
        ino: INodeNo(a.node),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind,
        perm: a.perm,
        nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for ChaosFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let ok = config
            .add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP)
            .is_ok();
        self.shared.mmap_allowed.store(ok, Ordering::SeqCst);
        if !ok {
            eprintln!(
                "chaos-fs: this kernel has no FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6+): shared mmap of files is refused (ENODEV)"
            );
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self
            .shared
            .with_store(|s| s.lookup(parent.0, name).and_then(|n| s.attr(n)))
        {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.shared.with_store(|s| s.attr(ino.0)) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if size.is_some()
            && let Err(e) = self.enter(Op::Truncate, ino.0, None, 0)
        {
            return reply.error(e);
        }
        let r = self.shared.with_store(|s| {
            if let Some(len) = size {
                s.truncate(ino.0, len)?;
            }
            if let Some(m) = mode {
                s.chmod(ino.0, (m & 0o7777) as u16)?;
            }
            if uid.is_some() || gid.is_some() {
                s.chown(ino.0, uid, gid)?;
            }
            if atime.is_some() || mtime.is_some() {
                s.set_times(ino.0, atime.map(time), mtime.map(time))?;
            }
            s.attr(ino.0)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        if let Err(e) = self.enter(Op::Create, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        let perm = (mode & !umask & 0o7777) as u16;
        match self.shared.with_store(|s| {
            let n = s.create(parent.0, name, perm, req.uid(), req.gid())?;
            s.attr(n)
        }) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        if let Err(e) = self.enter(Op::Create, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        let perm = (mode & !umask & 0o7777) as u16;
        match self.shared.with_store(|s| {
            let n = s.mkdir(parent.0, name, perm, req.uid(), req.gid())?;
            s.attr(n)
        }) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if let Err(e) = self.enter(Op::Unlink, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        match self.shared.with_store(|s| s.unlink(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if let Err(e) = self.enter(Op::Unlink, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        match self.shared.with_store(|s| s.rmdir(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return reply.error(Errno::EINVAL);
        }
        if let Err(e) = self.enter(Op::Rename, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self
            .shared
            .with_store(|s| s.rename(parent.0, name, newparent.0, newname, noreplace))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if let Err(e) = self.enter(Op::Open, ino.0, None, 0) {
            return reply.error(e);
        }
        match self.shared.with_store(|s| s.open_handle(ino.0)) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(err(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if let Err(e) = self.enter(Op::Read, ino.0, None, 0) {
            return reply.error(e);
        }
        match self
            .shared
            .with_store(|s| s.read(ino.0, offset, u64::from(size)))
        {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(err(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let v = match self.enter(Op::Write, ino.0, None, data.len() as u64) {
            Ok(v) => v,
            Err(e) => return reply.error(e),
        };
        let n = v.accept.map_or(data.len(), |a| a as usize);
        match self
            .shared
            .with_store(|s| s.write(ino.0, offset, &data[..n]))
        {
            Ok(()) => reply.written(n as u32),
            Err(e) => reply.error(err(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.shared.with_store(|s| s.release(ino.0));
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if let Err(e) = self.enter(Op::Fsync, ino.0, None, 0) {
            return reply.error(e);
        }
        match self.shared.with_store(|s| s.fsync(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if offset == 0
            && let Err(e) = self.enter(Op::Readdir, ino.0, None, 0)
        {
            return reply.error(e);
        }
        let r = self.shared.with_store(|s| {
            let parent = if ino.0 == crate::store::ROOT {
                ino.0
            } else {
                s.lookup_parent(ino.0)?
            };
            Ok::<_, io::Error>((parent, s.list(ino.0)?))
        });
        let (parent, entries) = match r {
            Ok(x) => x,
            Err(e) => return reply.error(err(e)),
        };
        let all = [
            (
                INodeNo(ino.0),
                FileType::Directory,
                OsStr::new(".").to_os_string(),
            ),
            (
                INodeNo(parent),
                FileType::Directory,
                OsStr::new("..").to_os_string(),
            ),
        ]
        .into_iter()
        .chain(entries.into_iter().map(|(name, id, kind)| {
            let t = match kind {
                Kind::Dir => FileType::Directory,
                Kind::File => FileType::RegularFile,
            };
            (INodeNo(id), t, name)
        }));
        for (i, (id, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(id, (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if let Err(e) = self.enter(Op::Fsync, ino.0, None, 0) {
            return reply.error(e);
        }
        match self.shared.with_store(|s| s.fsync_dir(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.shared.gate();
        let full = self.shared.faults().disk_is_full();
        match self.shared.store().statvfs() {
            Ok(st) => {
                let (bfree, bavail) = if full {
                    (0, 0)
                } else {
                    (st.f_bfree, st.f_bavail)
                };
                reply.statfs(
                    st.f_blocks,
                    bfree,
                    bavail,
                    st.f_files,
                    st.f_ffree,
                    st.f_bsize as u32,
                    st.f_namemax as u32,
                    st.f_frsize as u32,
                )
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if let Err(e) = self.enter(Op::Create, parent.0, Some(name), 0) {
            return reply.error(e);
        }
        let perm = (mode & !umask & 0o7777) as u16;
        match self.shared.with_store(|s| {
            let n = s.create(parent.0, name, perm, req.uid(), req.gid())?;
            s.open_handle(n)?;
            s.attr(n)
        }) {
            Ok(a) => reply.created(
                &TTL,
                &file_attr(&a),
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(err(e)),
        }
    }
}
