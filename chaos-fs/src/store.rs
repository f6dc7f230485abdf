//! The store: chaos-fs's page cache and directory journal over a real
//! backing directory, without FUSE. It owns what is pending (written data
//! not yet fsynced, and in Strict mode directory entries not yet made
//! durable by a directory fsync) and what reaches the backing directory,
//! by the rules of `model` (docs/nemesis.md, "Disk faults: chaos-fs").
//! The FUSE layer (`fs`) maps kernel requests onto it; the property tests
//! drive it directly on a temporary directory and compare it with `model`.
//!
//! Layout: a tree of nodes (`NodeId`, the FUSE inode number; `ROOT` is the
//! root) loaded from the backing directory at start. A file node's synced
//! content lives in its backing inode (an open `File`, kept across renames
//! and unlinks) or, while no durable name ever reached the backing
//! directory (Strict mode), in memory; its unsynced writes are extents in
//! memory (`overlay`). Directory operations are entries of a log, applied
//! to the backing directory at once in Lazy mode and at a directory fsync
//! in Strict mode. No fault logic here: `faults` decides, `fs` applies.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use crate::model::Mode;

/// A node: the FUSE inode number.
pub type NodeId = u64;

/// The root directory's node.
pub const ROOT: NodeId = 1;

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// What kind of node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// A node's attributes, as `stat` shows them.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    /// The node.
    pub node: NodeId,
    /// File or directory.
    pub kind: Kind,
    /// The size readers see (pending writes included).
    pub size: u64,
    /// Permission bits.
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access.
    pub atime: SystemTime,
    /// Last modification.
    pub mtime: SystemTime,
    /// Last change.
    pub ctime: SystemTime,
}

#[derive(Debug)]
struct FileNode {
    /// The backing inode, once opened (kept across renames and unlinks, as
    /// an open file descriptor keeps an inode).
    handle: Option<File>,
    /// Synced content of a file whose name never reached the backing
    /// directory (Strict mode); None once it has a backing inode.
    mem: Option<Vec<u8>>,
    /// Length of the synced content.
    synced_len: u64,
    /// Unsynced writes: non-overlapping, non-adjacent extents by offset.
    overlay: BTreeMap<u64, Vec<u8>>,
    /// The size readers see.
    size: u64,
}

#[derive(Debug)]
enum Body {
    Dir(BTreeMap<OsString, NodeId>),
    File(FileNode),
}

#[derive(Debug)]
struct Node {
    /// Visible parent and name (meaningless once unlinked).
    parent: NodeId,
    name: OsString,
    /// Whether the node has a visible name.
    linked: bool,
    /// Its path in the backing directory (relative), if it has a durable name.
    durable: Option<PathBuf>,
    /// Open file handles (FUSE open/create minus release).
    open: u32,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    body: Body,
}

/// A logged change of a directory entry (file nodes only).
#[derive(Debug)]
enum Entry {
    Create {
        dir: NodeId,
        name: OsString,
        node: NodeId,
    },
    Unlink {
        dir: NodeId,
        name: OsString,
        node: NodeId,
    },
    Rename {
        from_dir: NodeId,
        from_name: OsString,
        to_dir: NodeId,
        to_name: OsString,
        node: NodeId,
        replaced: Option<NodeId>,
    },
}

impl Entry {
    fn touches(&self, d: NodeId) -> bool {
        match self {
            Entry::Create { dir, .. } | Entry::Unlink { dir, .. } => *dir == d,
            Entry::Rename {
                from_dir, to_dir, ..
            } => *from_dir == d || *to_dir == d,
        }
    }
}

/// The last write, for a torn crash: (node, offset, length).
type LastWrite = (NodeId, u64, u64);

/// Counters for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Bytes written and not yet synced (sum of the extents).
    pub bytes: u64,
    /// Files with unsynced writes.
    pub files: u64,
    /// Directory entries waiting for a directory fsync (Strict mode).
    pub entries: u64,
}

/// What a torn write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// The file's path in the backing directory.
    pub path: PathBuf,
    /// Offset of the torn range.
    pub offset: u64,
    /// Bytes of the range that reached the backing file.
    pub written: u64,
    /// Length of the whole unsynced range.
    pub range: u64,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    mode: Mode,
    nodes: HashMap<NodeId, Node>,
    next: NodeId,
    log: Vec<Entry>,
    last_write: Option<LastWrite>,
}

fn meta_times(m: &fs::Metadata) -> (SystemTime, SystemTime, SystemTime) {
    let t = |s: i64, ns: i64| {
        if s >= 0 {
            SystemTime::UNIX_EPOCH + std::time::Duration::new(s as u64, ns as u32)
        } else {
            SystemTime::UNIX_EPOCH
        }
    };
    (
        t(m.atime(), m.atime_nsec()),
        t(m.mtime(), m.mtime_nsec()),
        t(m.ctime(), m.ctime_nsec()),
    )
}

impl Store {
    /// Opens the store over `root`: everything in it is durable. Symbolic
    /// links and special files are not served (skipped).
    pub fn open(root: &Path, mode: Mode) -> io::Result<Store> {
        let meta = fs::metadata(root)?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let mut s = Store {
            root: root.to_path_buf(),
            mode,
            nodes: HashMap::new(),
            next: ROOT,
            log: Vec::new(),
            last_write: None,
        };
        let (atime, mtime, ctime) = meta_times(&meta);
        s.nodes.insert(
            ROOT,
            Node {
                parent: ROOT,
                name: OsString::new(),
                linked: true,
                durable: Some(PathBuf::new()),
                open: 0,
                perm: (meta.mode() & 0o7777) as u16,
                uid: meta.uid(),
                gid: meta.gid(),
                atime,
                mtime,
                ctime,
                body: Body::Dir(BTreeMap::new()),
            },
        );
        s.load(ROOT, PathBuf::new())?;
        Ok(s)
    }

    fn load(&mut self, dir: NodeId, rel: PathBuf) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(self.root.join(&rel))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let m = fs::symlink_metadata(e.path())?;
            let path = rel.join(e.file_name());
            let body = if m.is_dir() {
                Body::Dir(BTreeMap::new())
            } else if m.is_file() {
                Body::File(FileNode {
                    handle: None,
                    mem: None,
                    synced_len: m.len(),
                    overlay: BTreeMap::new(),
                    size: m.len(),
                })
            } else {
                continue;
            };
            let (atime, mtime, ctime) = meta_times(&m);
            let id = self.fresh();
            self.nodes.insert(
                id,
                Node {
                    parent: dir,
                    name: e.file_name(),
                    linked: true,
                    durable: Some(path.clone()),
                    open: 0,
                    perm: (m.mode() & 0o7777) as u16,
                    uid: m.uid(),
                    gid: m.gid(),
                    atime,
                    mtime,
                    ctime,
                    body,
                },
            );
            self.children_mut(dir).insert(e.file_name(), id);
            if m.is_dir() {
                self.load(id, path)?;
            }
        }
        Ok(())
    }

    fn fresh(&mut self) -> NodeId {
        self.next += 1;
        self.next
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The backing directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn node(&self, id: NodeId) -> io::Result<&Node> {
        self.nodes.get(&id).ok_or_else(|| errno(libc::ENOENT))
    }

    fn node_mut(&mut self, id: NodeId) -> io::Result<&mut Node> {
        self.nodes.get_mut(&id).ok_or_else(|| errno(libc::ENOENT))
    }

    fn children(&self, dir: NodeId) -> io::Result<&BTreeMap<OsString, NodeId>> {
        match &self.node(dir)?.body {
            Body::Dir(c) => Ok(c),
            Body::File(_) => Err(errno(libc::ENOTDIR)),
        }
    }

    fn children_mut(&mut self, dir: NodeId) -> &mut BTreeMap<OsString, NodeId> {
        match &mut self.nodes.get_mut(&dir).expect("directory node").body {
            Body::Dir(c) => c,
            Body::File(_) => panic!("node {dir} is not a directory"),
        }
    }

    fn file_mut(&mut self, id: NodeId) -> io::Result<&mut FileNode> {
        match &mut self.node_mut(id)?.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(errno(libc::EISDIR)),
        }
    }

    /// A directory's path relative to the backing root. Directories are
    /// renamed only after the log is empty, so their visible path is their
    /// durable path.
    fn dir_path(&self, dir: NodeId) -> PathBuf {
        let mut parts = Vec::new();
        let mut d = dir;
        while d != ROOT {
            let n = &self.nodes[&d];
            parts.push(n.name.clone());
            d = n.parent;
        }
        parts.iter().rev().collect()
    }

    /// The visible path of a node, relative to the mount point (for path
    /// globs); None once unlinked.
    pub fn visible_path(&self, id: NodeId) -> Option<PathBuf> {
        let n = self.nodes.get(&id)?;
        if !n.linked {
            return None;
        }
        if id == ROOT {
            return Some(PathBuf::new());
        }
        Some(self.dir_path(n.parent).join(&n.name))
    }

    /// A node's visible parent directory.
    pub fn lookup_parent(&self, id: NodeId) -> io::Result<NodeId> {
        Ok(self.node(id)?.parent)
    }

    /// Looks a name up in a directory.
    pub fn lookup(&self, dir: NodeId, name: &OsStr) -> io::Result<NodeId> {
        self.children(dir)?
            .get(name)
            .copied()
            .ok_or_else(|| errno(libc::ENOENT))
    }

    /// A node's attributes.
    pub fn attr(&self, id: NodeId) -> io::Result<Attr> {
        let n = self.node(id)?;
        let (kind, size) = match &n.body {
            Body::Dir(_) => (Kind::Dir, 4096),
            Body::File(f) => (Kind::File, f.size),
        };
        Ok(Attr {
            node: id,
            kind,
            size,
            perm: n.perm,
            uid: n.uid,
            gid: n.gid,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    /// A directory's entries, in name order.
    pub fn list(&self, dir: NodeId) -> io::Result<Vec<(OsString, NodeId, Kind)>> {
        let c = self.children(dir)?;
        Ok(c.iter()
            .map(|(name, id)| {
                let kind = match self.nodes[id].body {
                    Body::Dir(_) => Kind::Dir,
                    Body::File(_) => Kind::File,
                };
                (name.clone(), *id, kind)
            })
            .collect())
    }

    /// Opens the backing inode of a file node if it has one and it is not
    /// open yet.
    fn ensure_handle(&mut self, id: NodeId) -> io::Result<()> {
        let root = self.root.clone();
        let n = self.node_mut(id)?;
        let durable = n.durable.clone();
        if let Body::File(f) = &mut n.body
            && f.handle.is_none()
            && f.mem.is_none()
            && let Some(rel) = durable
        {
            let p = root.join(rel);
            let file = match OpenOptions::new().read(true).write(true).open(&p) {
                Ok(f) => f,
                Err(_) => File::open(&p)?,
            };
            f.handle = Some(file);
        }
        Ok(())
    }

    /// A file handle was opened on the node.
    pub fn open_handle(&mut self, id: NodeId) -> io::Result<()> {
        self.ensure_handle(id)?;
        self.node_mut(id)?.open += 1;
        Ok(())
    }

    /// A file handle of the node was released.
    pub fn release(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.open = n.open.saturating_sub(1);
        }
        self.maybe_drop(id);
    }

    /// Forgets a node that nothing can reach any more: no visible name, no
    /// open handle, no durable name, no logged entry.
    fn maybe_drop(&mut self, id: NodeId) {
        let Some(n) = self.nodes.get(&id) else { return };
        if n.linked || n.open > 0 || n.durable.is_some() || id == ROOT {
            return;
        }
        let referenced = self.log.iter().any(|e| match e {
            Entry::Create { node, .. } | Entry::Unlink { node, .. } => *node == id,
            Entry::Rename { node, replaced, .. } => *node == id || *replaced == Some(id),
        });
        if !referenced {
            self.nodes.remove(&id);
            if matches!(self.last_write, Some((n, _, _)) if n == id) {
                self.last_write = None;
            }
        }
    }

    /// Reads up to `len` bytes at `offset`, as readers see them.
    pub fn read(&mut self, id: NodeId, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        self.ensure_handle(id)?;
        let f = self.file_mut(id)?;
        let end = offset.saturating_add(len).min(f.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        let base_end = end.min(f.synced_len);
        if offset < base_end {
            let part = &mut buf[..(base_end - offset) as usize];
            if let Some(mem) = &f.mem {
                part.copy_from_slice(&mem[offset as usize..base_end as usize]);
            } else if let Some(h) = &f.handle {
                read_full_at(h, part, offset)?;
            }
        }
        for (&start, data) in f.overlay.range(..end) {
            let stop = start + data.len() as u64;
            if stop <= offset {
                continue;
            }
            let from = start.max(offset);
            let to = stop.min(end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - start) as usize..(to - start) as usize]);
        }
        Ok(buf)
    }

    /// Writes into the page cache (nothing reaches the backing directory).
    pub fn write(&mut self, id: NodeId, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            self.file_mut(id)?;
            return Ok(());
        }
        let f = self.file_mut(id)?;
        let end = offset + data.len() as u64;
        // Merge with every extent that overlaps or touches [offset, end].
        let touching: Vec<u64> = f
            .overlay
            .range(..=end)
            .filter(|(s, d)| **s + d.len() as u64 >= offset)
            .map(|(s, _)| *s)
            .collect();
        // The common case, an append to (or an overwrite inside) one
        // extent: grow it in place instead of copying it (a WAL's unsynced
        // tail would otherwise be copied whole on every write).
        if let [s] = touching[..]
            && s <= offset
        {
            let d = f.overlay.get_mut(&s).expect("a touching extent");
            let stop = (end - s) as usize;
            if d.len() < stop {
                d.resize(stop, 0);
            }
            d[(offset - s) as usize..stop].copy_from_slice(data);
            f.size = f.size.max(end);
            return self.wrote(id, offset, data.len());
        }
        let mut start = offset;
        let mut stop = end;
        for s in &touching {
            start = start.min(*s);
            stop = stop.max(*s + f.overlay[s].len() as u64);
        }
        let mut merged = vec![0u8; (stop - start) as usize];
        for s in touching {
            let d = f.overlay.remove(&s).unwrap();
            merged[(s - start) as usize..(s - start) as usize + d.len()].copy_from_slice(&d);
        }
        merged[(offset - start) as usize..(end - start) as usize].copy_from_slice(data);
        f.overlay.insert(start, merged);
        f.size = f.size.max(end);
        self.wrote(id, offset, data.len())
    }

    fn wrote(&mut self, id: NodeId, offset: u64, len: usize) -> io::Result<()> {
        let n = self.node_mut(id)?;
        n.mtime = SystemTime::now();
        n.ctime = n.mtime;
        self.last_write = Some((id, offset, len as u64));
        Ok(())
    }

    /// Sets a file's length: at once in the backing inode (metadata), and
    /// in the page cache.
    pub fn truncate(&mut self, id: NodeId, len: u64) -> io::Result<()> {
        self.ensure_handle(id)?;
        let f = self.file_mut(id)?;
        if let Some(mem) = &mut f.mem {
            mem.resize(len as usize, 0);
        } else if let Some(h) = &f.handle {
            h.set_len(len)?;
        }
        f.synced_len = len;
        let beyond: Vec<u64> = f.overlay.range(..).map(|(s, _)| *s).collect();
        for s in beyond {
            if s >= len {
                f.overlay.remove(&s);
            } else if s + f.overlay[&s].len() as u64 > len {
                f.overlay.get_mut(&s).unwrap().truncate((len - s) as usize);
            }
        }
        f.size = len;
        let n = self.node_mut(id)?;
        n.mtime = SystemTime::now();
        n.ctime = n.mtime;
        Ok(())
    }

    /// fsync/fdatasync of a file: its pending writes go to its backing
    /// inode (or, with no durable name yet, to its in-memory synced
    /// content), which is then synced.
    pub fn fsync(&mut self, id: NodeId) -> io::Result<()> {
        self.ensure_handle(id)?;
        let f = self.file_mut(id)?;
        let extents = std::mem::take(&mut f.overlay);
        for (s, d) in &extents {
            let end = *s as usize + d.len();
            if let Some(mem) = &mut f.mem {
                if mem.len() < end {
                    mem.resize(end, 0);
                }
                mem[*s as usize..end].copy_from_slice(d);
            } else if let Some(h) = &f.handle
                && let Err(e) = h.write_all_at(d, *s)
            {
                f.overlay = extents;
                return Err(e);
            }
            f.synced_len = f.synced_len.max(end as u64);
        }
        if let Some(h) = &f.handle {
            h.sync_data()?;
        }
        if matches!(self.last_write, Some((n, _, _)) if n == id) {
            self.last_write = None;
        }
        Ok(())
    }

    /// fsync of a directory: in Strict mode every logged entry up to the
    /// last one that touches it becomes durable; then the backing
    /// directory is synced.
    pub fn fsync_dir(&mut self, dir: NodeId) -> io::Result<()> {
        self.children(dir)?;
        if let Some(last) = self.log.iter().rposition(|e| e.touches(dir)) {
            self.commit(last + 1)?;
        }
        File::open(self.root.join(self.dir_path(dir)))?.sync_all()
    }

    fn new_node(
        &mut self,
        dir: NodeId,
        name: &OsStr,
        perm: u16,
        uid: u32,
        gid: u32,
        body: Body,
    ) -> NodeId {
        let id = self.fresh();
        let now = SystemTime::now();
        self.nodes.insert(
            id,
            Node {
                parent: dir,
                name: name.to_os_string(),
                linked: true,
                durable: None,
                open: 0,
                perm,
                uid,
                gid,
                atime: now,
                mtime: now,
                ctime: now,
                body,
            },
        );
        self.children_mut(dir).insert(name.to_os_string(), id);
        id
    }

    /// Creates an empty file (its name durable at once in Lazy mode, at
    /// its directory's fsync in Strict mode).
    pub fn create(
        &mut self,
        dir: NodeId,
        name: &OsStr,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> io::Result<NodeId> {
        if self.children(dir)?.contains_key(name) {
            return Err(errno(libc::EEXIST));
        }
        let body = Body::File(FileNode {
            handle: None,
            mem: Some(Vec::new()),
            synced_len: 0,
            overlay: BTreeMap::new(),
            size: 0,
        });
        let id = self.new_node(dir, name, perm, uid, gid, body);
        self.push(Entry::Create {
            dir,
            name: name.to_os_string(),
            node: id,
        })?;
        Ok(id)
    }

    /// Removes a file's name.
    pub fn unlink(&mut self, dir: NodeId, name: &OsStr) -> io::Result<()> {
        let id = self.lookup(dir, name)?;
        if matches!(self.node(id)?.body, Body::Dir(_)) {
            return Err(errno(libc::EISDIR));
        }
        self.children_mut(dir).remove(name);
        self.node_mut(id)?.linked = false;
        self.push(Entry::Unlink {
            dir,
            name: name.to_os_string(),
            node: id,
        })?;
        self.maybe_drop(id);
        Ok(())
    }

    /// Renames a file or a directory. `noreplace`: fail with EEXIST if the
    /// target exists.
    pub fn rename(
        &mut self,
        dir: NodeId,
        name: &OsStr,
        to_dir: NodeId,
        to_name: &OsStr,
        noreplace: bool,
    ) -> io::Result<()> {
        let id = self.lookup(dir, name)?;
        self.children(to_dir)?;
        let target = self.children(to_dir)?.get(to_name).copied();
        if target == Some(id) {
            return Ok(());
        }
        if target.is_some() && noreplace {
            return Err(errno(libc::EEXIST));
        }
        let is_dir = matches!(self.node(id)?.body, Body::Dir(_));
        if let Some(t) = target {
            match (&self.node(t)?.body, is_dir) {
                (Body::Dir(_), false) => return Err(errno(libc::EISDIR)),
                (Body::File(_), true) => return Err(errno(libc::ENOTDIR)),
                (Body::Dir(c), true) if !c.is_empty() => return Err(errno(libc::ENOTEMPTY)),
                _ => {}
            }
        }
        if is_dir {
            // No moving a directory into itself.
            let mut d = to_dir;
            while d != ROOT {
                if d == id {
                    return Err(errno(libc::EINVAL));
                }
                d = self.nodes[&d].parent;
            }
            self.commit(self.log.len())?;
            let from = self.dir_path(dir).join(name);
            let to = self.dir_path(to_dir).join(to_name);
            fs::rename(self.root.join(&from), self.root.join(&to))?;
            if let Some(t) = target {
                self.nodes.remove(&t);
            }
            self.move_entry(id, dir, name, to_dir, to_name);
            self.rebase_durable(&from, &to);
            return Ok(());
        }
        if let Some(t) = target {
            self.node_mut(t)?.linked = false;
        }
        self.move_entry(id, dir, name, to_dir, to_name);
        self.push(Entry::Rename {
            from_dir: dir,
            from_name: name.to_os_string(),
            to_dir,
            to_name: to_name.to_os_string(),
            node: id,
            replaced: target,
        })?;
        if let Some(t) = target {
            self.maybe_drop(t);
        }
        Ok(())
    }

    fn move_entry(
        &mut self,
        id: NodeId,
        dir: NodeId,
        name: &OsStr,
        to_dir: NodeId,
        to_name: &OsStr,
    ) {
        self.children_mut(dir).remove(name);
        self.children_mut(to_dir).insert(to_name.to_os_string(), id);
        let n = self.nodes.get_mut(&id).unwrap();
        n.parent = to_dir;
        n.name = to_name.to_os_string();
        n.ctime = SystemTime::now();
    }

    /// After a directory moved from `from` to `to` in the backing
    /// directory, the durable paths below it follow.
    fn rebase_durable(&mut self, from: &Path, to: &Path) {
        for n in self.nodes.values_mut() {
            if let Some(p) = &n.durable
                && let Ok(rest) = p.strip_prefix(from)
            {
                n.durable = Some(to.join(rest));
            }
        }
    }

    /// Creates a directory, in the backing directory at once (Strict mode
    /// first makes every logged entry durable).
    pub fn mkdir(
        &mut self,
        dir: NodeId,
        name: &OsStr,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> io::Result<NodeId> {
        if self.children(dir)?.contains_key(name) {
            return Err(errno(libc::EEXIST));
        }
        self.commit(self.log.len())?;
        let rel = self.dir_path(dir).join(name);
        fs::DirBuilder::new()
            .mode(u32::from(perm))
            .create(self.root.join(&rel))?;
        let id = self.new_node(dir, name, perm, uid, gid, Body::Dir(BTreeMap::new()));
        self.node_mut(id)?.durable = Some(rel);
        Ok(id)
    }

    /// Removes an empty directory, in the backing directory at once.
    pub fn rmdir(&mut self, dir: NodeId, name: &OsStr) -> io::Result<()> {
        let id = self.lookup(dir, name)?;
        match &self.node(id)?.body {
            Body::File(_) => return Err(errno(libc::ENOTDIR)),
            Body::Dir(c) if !c.is_empty() => return Err(errno(libc::ENOTEMPTY)),
            Body::Dir(_) => {}
        }
        self.commit(self.log.len())?;
        fs::remove_dir(self.root.join(self.dir_path(dir).join(name)))?;
        self.children_mut(dir).remove(name);
        self.nodes.remove(&id);
        Ok(())
    }

    /// Sets permission bits (in the backing inode at once when it has one).
    pub fn chmod(&mut self, id: NodeId, perm: u16) -> io::Result<()> {
        self.ensure_handle(id)?;
        let root = self.root.clone();
        let n = self.node_mut(id)?;
        match &n.body {
            Body::File(FileNode {
                handle: Some(h), ..
            }) => h.set_permissions(fs::Permissions::from_mode(u32::from(perm)))?,
            Body::Dir(_) => {
                if let Some(p) = &n.durable {
                    fs::set_permissions(root.join(p), fs::Permissions::from_mode(u32::from(perm)))?
                }
            }
            _ => {}
        }
        n.perm = perm;
        n.ctime = SystemTime::now();
        Ok(())
    }

    /// Sets owner and group (recorded; the backing inode keeps root's).
    pub fn chown(&mut self, id: NodeId, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        let n = self.node_mut(id)?;
        if let Some(u) = uid {
            n.uid = u;
        }
        if let Some(g) = gid {
            n.gid = g;
        }
        n.ctime = SystemTime::now();
        Ok(())
    }

    /// Sets access and modification times (in memory).
    pub fn set_times(
        &mut self,
        id: NodeId,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> io::Result<()> {
        let n = self.node_mut(id)?;
        if let Some(a) = atime {
            n.atime = a;
        }
        if let Some(m) = mtime {
            n.mtime = m;
        }
        Ok(())
    }

    fn push(&mut self, e: Entry) -> io::Result<()> {
        self.log.push(e);
        if self.mode == Mode::Lazy {
            self.commit(self.log.len())?;
        }
        Ok(())
    }

    /// Applies the first `n` logged entries to the backing directory, in
    /// order. An entry that fails stays at the head of the log.
    fn commit(&mut self, n: usize) -> io::Result<()> {
        for _ in 0..n {
            let e = self.log.remove(0);
            if let Err(err) = self.apply(&e) {
                self.log.insert(0, e);
                return Err(err);
            }
            let touched: Vec<NodeId> = match e {
                Entry::Create { node, .. } | Entry::Unlink { node, .. } => vec![node],
                Entry::Rename { node, replaced, .. } => {
                    std::iter::once(node).chain(replaced).collect()
                }
            };
            for id in touched {
                self.maybe_drop(id);
            }
        }
        Ok(())
    }

    fn apply(&mut self, e: &Entry) -> io::Result<()> {
        match e {
            Entry::Create { dir, name, node } => {
                let rel = self.dir_path(*dir).join(name);
                let perm = self.nodes[node].perm;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(u32::from(perm))
                    .open(self.root.join(&rel))?;
                let n = self.nodes.get_mut(node).unwrap();
                if let Body::File(f) = &mut n.body {
                    let mem = f.mem.take().unwrap_or_default();
                    file.write_all_at(&mem, 0)?;
                    f.synced_len = mem.len() as u64;
                    f.handle = Some(file);
                }
                n.durable = Some(rel);
            }
            Entry::Unlink { dir, name, node } => {
                let rel = self.dir_path(*dir).join(name);
                if self.nodes[node].open > 0 {
                    self.ensure_handle(*node)?;
                }
                fs::remove_file(self.root.join(&rel))?;
                self.nodes.get_mut(node).unwrap().durable = None;
            }
            Entry::Rename {
                from_dir,
                from_name,
                to_dir,
                to_name,
                node,
                replaced,
            } => {
                let from = self.dir_path(*from_dir).join(from_name);
                let to = self.dir_path(*to_dir).join(to_name);
                if let Some(r) = replaced
                    && self.nodes.get(r).is_some_and(|n| n.open > 0)
                {
                    self.ensure_handle(*r)?;
                }
                fs::rename(self.root.join(&from), self.root.join(&to))?;
                for n in self.nodes.values_mut() {
                    if n.durable.as_deref() == Some(to.as_path()) {
                        n.durable = None;
                    }
                }
                self.nodes.get_mut(node).unwrap().durable = Some(to);
            }
        }
        Ok(())
    }

    /// What is pending.
    pub fn pending(&self) -> Pending {
        let mut p = Pending {
            entries: self.log.len() as u64,
            ..Pending::default()
        };
        for n in self.nodes.values() {
            if let Body::File(f) = &n.body
                && !f.overlay.is_empty()
            {
                p.files += 1;
                p.bytes += f.overlay.values().map(|d| d.len() as u64).sum::<u64>();
            }
        }
        p
    }

    /// Writes every pending byte and entry through (a clean shutdown: what
    /// an OS does with its page cache when it stops).
    pub fn flush_all(&mut self) -> io::Result<()> {
        self.commit(self.log.len())?;
        let ids: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| matches!(&n.body, Body::File(f) if !f.overlay.is_empty()))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.fsync(id)?;
        }
        Ok(())
    }

    /// The last unsynced write a torn crash can tear: (node, offset, the
    /// range's bytes as readers see them); None when there is none or its
    /// file has no backing inode with a durable name.
    fn torn_candidate(&mut self) -> io::Result<Option<(NodeId, u64, Vec<u8>)>> {
        let Some((id, off, len)) = self.last_write else {
            return Ok(None);
        };
        if self.nodes.get(&id).is_none_or(|n| n.durable.is_none()) {
            return Ok(None);
        }
        let bytes = self.read(id, off, len)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some((id, off, bytes)))
    }

    /// The length of the torn candidate's range (0 when there is none).
    pub fn torn_range(&mut self) -> io::Result<u64> {
        Ok(self.torn_candidate()?.map_or(0, |(_, _, b)| b.len() as u64))
    }

    /// A torn write: the first `keep` bytes of the last unsynced write's
    /// range reach its backing inode (not synced: the host keeps them).
    pub fn tear(&mut self, keep: u64) -> io::Result<Option<Torn>> {
        let Some((id, off, bytes)) = self.torn_candidate()? else {
            return Ok(None);
        };
        let k = (keep as usize).min(bytes.len());
        let path = self.nodes[&id].durable.clone().unwrap_or_default();
        if let Body::File(FileNode {
            handle: Some(h), ..
        }) = &self.nodes[&id].body
        {
            h.write_all_at(&bytes[..k], off)?;
        }
        Ok(Some(Torn {
            path,
            offset: off,
            written: k as u64,
            range: bytes.len() as u64,
        }))
    }

    /// Statistics of the backing file system, for statfs.
    pub fn statvfs(&self) -> io::Result<libc::statvfs> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(self.root.as_os_str().as_bytes())
            .map_err(|_| errno(libc::EINVAL))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed out-parameter.
        let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

fn read_full_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match f.read_at(buf, offset) {
            Ok(0) => break, // the backing file is shorter: zeros
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
