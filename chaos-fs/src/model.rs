//! The pure model of what chaos-fs keeps and loses: a state machine over
//! files named by '/'-separated relative paths, with no IO, no clock and no
//! randomness. It owns the rules of docs/nemesis.md ("Disk faults:
//! chaos-fs"); the property tests run the real store (`store`) beside it and
//! compare what readers see and what survives a crash.
//!
//! It is written differently from the store on purpose: whole-file byte
//! vectors and a replayed log instead of extents, file handles and a node
//! tree, so that a shared mistake is unlikely.
//!
//! - Every file is an inode (`NodeId`) with two contents: what readers see
//!   (`content`) and what the inode holds durably (`synced`).
//! - A write changes `content` only; `fsync` copies `content` to `synced`.
//! - A truncate changes both at once (metadata is durable at once).
//! - Names: `visible` (what readers see) and `durable` (what survives). In
//!   `Lazy` mode every create, rename and unlink changes both at once; in
//!   `Strict` mode they are appended to a log, and an fsync of a directory
//!   makes durable every logged entry up to the last one that touches that
//!   directory (entries become durable in the order they were made).
//! - Directories are created, removed and renamed at once in both modes; in
//!   `Strict` mode such an operation first makes the whole log durable.
//! - A crash leaves `durable`, each name with its inode's `synced` bytes;
//!   a torn write adds a prefix of the last write's range, if that write
//!   was not synced since and its inode has a durable name.

use std::collections::{BTreeMap, BTreeSet};

/// Which directory operations wait for a directory fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As LazyFS: creates, renames and unlinks are durable at once; file
    /// data only after an fsync of the file.
    Lazy,
    /// Creates, renames and unlinks of files are durable only after an
    /// fsync of their directory (both directories' for a rename: either one).
    Strict,
}

impl Mode {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Lazy => "lazy",
            Mode::Strict => "strict",
        }
    }

    /// Parses `lazy` or `strict`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "lazy" => Some(Mode::Lazy),
            "strict" => Some(Mode::Strict),
            _ => None,
        }
    }
}

/// An inode of the model.
pub type NodeId = u64;

/// Why an operation is refused (the model's errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// ENOENT: no such file or parent directory.
    NotFound,
    /// EEXIST: the name is taken.
    Exists,
    /// ENOTEMPTY: a directory to remove has entries.
    NotEmpty,
    /// EISDIR / ENOTDIR: a file operation on a directory or the reverse.
    WrongKind,
}

/// One logged directory entry change (Strict mode), by path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Create {
        path: String,
        node: NodeId,
    },
    Unlink {
        path: String,
    },
    Rename {
        from: String,
        to: String,
        node: NodeId,
    },
}

impl Entry {
    fn touches(&self, dir: &str) -> bool {
        match self {
            Entry::Create { path, .. } | Entry::Unlink { path } => parent(path) == dir,
            Entry::Rename { from, to, .. } => parent(from) == dir || parent(to) == dir,
        }
    }
}

/// The parent directory of a relative path ("" is the root).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// What a crash leaves in the backing directory: every directory and every
/// file with its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Directories, by relative path (the root "" not included).
    pub dirs: BTreeSet<String>,
    /// Files, by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The model's state.
#[derive(Clone, Debug)]
pub struct Model {
    mode: Mode,
    next: NodeId,
    dirs: BTreeSet<String>,
    visible: BTreeMap<String, NodeId>,
    durable: BTreeMap<String, NodeId>,
    content: BTreeMap<NodeId, Vec<u8>>,
    synced: BTreeMap<NodeId, Vec<u8>>,
    log: Vec<Entry>,
    /// The last write: (inode, offset, length), until that inode is synced.
    last_write: Option<(NodeId, u64, u64)>,
}

impl Model {
    /// A model over an existing tree (what the backing directory holds when
    /// chaos-fs starts: all of it durable).
    pub fn new(mode: Mode, initial: &Image) -> Model {
        let mut m = Model {
            mode,
            next: 1,
            dirs: initial.dirs.clone(),
            visible: BTreeMap::new(),
            durable: BTreeMap::new(),
            content: BTreeMap::new(),
            synced: BTreeMap::new(),
            log: Vec::new(),
            last_write: None,
        };
        for (path, bytes) in &initial.files {
            let node = m.fresh();
            m.visible.insert(path.clone(), node);
            m.durable.insert(path.clone(), node);
            m.content.insert(node, bytes.clone());
            m.synced.insert(node, bytes.clone());
        }
        m
    }

    fn fresh(&mut self) -> NodeId {
        self.next += 1;
        self.next
    }

    fn dir_exists(&self, dir: &str) -> bool {
        dir.is_empty() || self.dirs.contains(dir)
    }

    fn name_taken(&self, path: &str) -> bool {
        self.visible.contains_key(path) || self.dirs.contains(path)
    }

    fn node(&self, path: &str) -> Result<NodeId, ModelError> {
        match self.visible.get(path) {
            Some(n) => Ok(*n),
            None if self.dirs.contains(path) => Err(ModelError::WrongKind),
            None => Err(ModelError::NotFound),
        }
    }

    /// What a reader of `path` sees (the whole file).
    pub fn read(&self, path: &str) -> Result<&[u8], ModelError> {
        let n = self.node(path)?;
        Ok(&self.content[&n])
    }

    /// The visible files, with their contents.
    pub fn visible_files(&self) -> BTreeMap<String, Vec<u8>> {
        self.visible
            .iter()
            .map(|(p, n)| (p.clone(), self.content[n].clone()))
            .collect()
    }

    /// The visible directories.
    pub fn visible_dirs(&self) -> &BTreeSet<String> {
        &self.dirs
    }

    /// Whether any file's content differs from its synced content.
    pub fn has_unsynced_data(&self) -> bool {
        self.content
            .iter()
            .any(|(n, c)| self.synced.get(n) != Some(c))
    }

    /// Logged entries that are not durable yet (always 0 in Lazy mode).
    pub fn pending_entries(&self) -> usize {
        self.log.len()
    }

    /// Creates an empty file.
    pub fn create(&mut self, path: &str) -> Result<NodeId, ModelError> {
        if !self.dir_exists(parent(path)) {
            return Err(ModelError::NotFound);
        }
        if self.name_taken(path) {
            return Err(ModelError::Exists);
        }
        let node = self.fresh();
        self.visible.insert(path.to_string(), node);
        self.content.insert(node, Vec::new());
        self.synced.insert(node, Vec::new());
        self.push(Entry::Create {
            path: path.to_string(),
            node,
        });
        Ok(node)
    }

    /// Writes `data` at `offset` (zero-filling a gap past the end).
    pub fn write(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), ModelError> {
        let node = self.node(path)?;
        let c = self
            .content
            .get_mut(&node)
            .expect("content of a visible node");
        let end = offset as usize + data.len();
        if c.len() < end {
            c.resize(end, 0);
        }
        c[offset as usize..end].copy_from_slice(data);
        if !data.is_empty() {
            self.last_write = Some((node, offset, data.len() as u64));
        }
        Ok(())
    }

    /// Sets the file's length, durably at once.
    pub fn truncate(&mut self, path: &str, len: u64) -> Result<(), ModelError> {
        let node = self.node(path)?;
        self.content.get_mut(&node).unwrap().resize(len as usize, 0);
        self.synced.get_mut(&node).unwrap().resize(len as usize, 0);
        Ok(())
    }

    /// Removes a file's name.
    pub fn unlink(&mut self, path: &str) -> Result<(), ModelError> {
        self.node(path)?;
        self.visible.remove(path);
        self.push(Entry::Unlink {
            path: path.to_string(),
        });
        Ok(())
    }

    /// Renames a file (replacing a file at `to`).
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ModelError> {
        let node = self.node(from)?;
        if !self.dir_exists(parent(to)) {
            return Err(ModelError::NotFound);
        }
        if self.dirs.contains(to) {
            return Err(ModelError::WrongKind);
        }
        if from == to {
            return Ok(());
        }
        self.visible.remove(from);
        self.visible.insert(to.to_string(), node);
        self.push(Entry::Rename {
            from: from.to_string(),
            to: to.to_string(),
            node,
        });
        Ok(())
    }

    /// fsync (or fdatasync) of a file: its data becomes durable.
    pub fn fsync(&mut self, path: &str) -> Result<(), ModelError> {
        let node = self.node(path)?;
        let c = self.content[&node].clone();
        self.synced.insert(node, c);
        if matches!(self.last_write, Some((n, _, _)) if n == node) {
            self.last_write = None;
        }
        Ok(())
    }

    /// fsync of a directory: in Strict mode, the log up to its last entry
    /// that touches `dir` becomes durable.
    pub fn fsync_dir(&mut self, dir: &str) -> Result<(), ModelError> {
        if !self.dir_exists(dir) {
            return Err(ModelError::NotFound);
        }
        if let Some(last) = self.log.iter().rposition(|e| e.touches(dir)) {
            self.commit(last + 1);
        }
        Ok(())
    }

    /// Creates a directory (durable at once; Strict mode first commits the log).
    pub fn mkdir(&mut self, path: &str) -> Result<(), ModelError> {
        if !self.dir_exists(parent(path)) {
            return Err(ModelError::NotFound);
        }
        if self.name_taken(path) {
            return Err(ModelError::Exists);
        }
        self.commit(self.log.len());
        self.dirs.insert(path.to_string());
        Ok(())
    }

    /// Removes an empty directory (durable at once; Strict mode first
    /// commits the log).
    pub fn rmdir(&mut self, path: &str) -> Result<(), ModelError> {
        if !self.dirs.contains(path) {
            return Err(if self.visible.contains_key(path) {
                ModelError::WrongKind
            } else {
                ModelError::NotFound
            });
        }
        let inside = |p: &String| parent(p) == path;
        if self.visible.keys().any(inside) || self.dirs.iter().any(inside) {
            return Err(ModelError::NotEmpty);
        }
        self.commit(self.log.len());
        self.dirs.remove(path);
        Ok(())
    }

    fn push(&mut self, e: Entry) {
        self.log.push(e);
        if self.mode == Mode::Lazy {
            self.commit(self.log.len());
        }
    }

    /// Makes the first `n` logged entries durable, in order.
    fn commit(&mut self, n: usize) {
        for e in self.log.drain(..n) {
            match e {
                Entry::Create { path, node } => {
                    self.durable.insert(path, node);
                }
                Entry::Unlink { path } => {
                    self.durable.remove(&path);
                }
                Entry::Rename { from, to, node } => {
                    self.durable.remove(&from);
                    self.durable.insert(to, node);
                }
            }
        }
    }

    /// The last unsynced write that a torn crash can tear: (its inode's
    /// durable path, offset, the bytes of that range as readers see them).
    /// None when there is no such write or its inode has no durable name.
    pub fn torn_candidate(&self) -> Option<(String, u64, Vec<u8>)> {
        let (node, off, len) = self.last_write?;
        let path = self
            .durable
            .iter()
            .find(|(_, n)| **n == node)
            .map(|(p, _)| p.clone())?;
        let c = &self.content[&node];
        let start = (off as usize).min(c.len());
        let end = ((off + len) as usize).min(c.len());
        if start == end {
            return None;
        }
        Some((path, off, c[start..end].to_vec()))
    }

    /// What survives a crash. `torn`: how many bytes of the torn candidate's
    /// range (a prefix) also survive; None for a clean crash.
    pub fn crash(&self, torn: Option<usize>) -> Image {
        let mut synced = self.synced.clone();
        if let (Some(k), Some((node, off, _))) = (torn, self.last_write)
            && let Some((_, _, bytes)) = self.torn_candidate()
        {
            // A tear of no bytes writes nothing (and extends nothing).
            let k = k.min(bytes.len());
            if k > 0 {
                let s = synced.get_mut(&node).unwrap();
                let end = off as usize + k;
                if s.len() < end {
                    s.resize(end, 0);
                }
                s[off as usize..end].copy_from_slice(&bytes[..k]);
            }
        }
        self.image(synced)
    }

    fn image(&self, synced: BTreeMap<NodeId, Vec<u8>>) -> Image {
        Image {
            dirs: self.dirs.clone(),
            files: self
                .durable
                .iter()
                .map(|(p, n)| (p.clone(), synced[n].clone()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(files: &[(&str, &[u8])]) -> Image {
        Image {
            dirs: ["a".to_string()].into(),
            files: files
                .iter()
                .map(|(p, b)| (p.to_string(), b.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn unsynced_data_is_lost_and_synced_data_survives() {
        let mut m = Model::new(Mode::Lazy, &image(&[("a/x", b"old")]));
        m.write("a/x", 0, b"new!").unwrap();
        assert_eq!(m.read("a/x").unwrap(), b"new!");
        assert_eq!(m.crash(None).files["a/x"], b"old");
        m.fsync("a/x").unwrap();
        assert_eq!(m.crash(None).files["a/x"], b"new!");
    }

    #[test]
    fn lazy_names_are_durable_at_once_strict_ones_after_a_dir_fsync() {
        let mut lazy = Model::new(Mode::Lazy, &image(&[]));
        lazy.create("a/y").unwrap();
        lazy.write("a/y", 0, b"data").unwrap();
        assert_eq!(lazy.crash(None).files["a/y"], b"");

        let mut strict = Model::new(Mode::Strict, &image(&[]));
        strict.create("a/y").unwrap();
        strict.write("a/y", 0, b"data").unwrap();
        strict.fsync("a/y").unwrap();
        assert!(!strict.crash(None).files.contains_key("a/y"));
        strict.fsync_dir("").unwrap(); // another directory: nothing
        assert!(!strict.crash(None).files.contains_key("a/y"));
        strict.fsync_dir("a").unwrap();
        assert_eq!(strict.crash(None).files["a/y"], b"data");
    }

    #[test]
    fn strict_rename_over_is_undone_by_a_crash_until_the_dir_is_synced() {
        let mut m = Model::new(Mode::Strict, &image(&[("a/x", b"v1")]));
        m.create("a/tmp").unwrap();
        m.write("a/tmp", 0, b"v2").unwrap();
        m.fsync("a/tmp").unwrap();
        m.rename("a/tmp", "a/x").unwrap();
        assert_eq!(m.read("a/x").unwrap(), b"v2");
        assert_eq!(m.crash(None).files, image(&[("a/x", b"v1")]).files);
        m.fsync_dir("a").unwrap();
        assert_eq!(m.crash(None).files, image(&[("a/x", b"v2")]).files);
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_last_unsynced_write() {
        let mut m = Model::new(Mode::Lazy, &image(&[("a/x", b"....")]));
        m.write("a/x", 2, b"abcd").unwrap();
        assert_eq!(
            m.torn_candidate(),
            Some(("a/x".to_string(), 2, b"abcd".to_vec()))
        );
        assert_eq!(m.crash(Some(3)).files["a/x"], b"..abc");
        assert_eq!(m.crash(Some(0)).files["a/x"], b"....");
        m.fsync("a/x").unwrap();
        assert_eq!(m.torn_candidate(), None);
    }

    #[test]
    fn truncate_is_durable_at_once() {
        let mut m = Model::new(Mode::Lazy, &image(&[("a/x", b"abcdef")]));
        m.write("a/x", 0, b"XY").unwrap();
        m.truncate("a/x", 3).unwrap();
        assert_eq!(m.read("a/x").unwrap(), b"XYc");
        assert_eq!(m.crash(None).files["a/x"], b"abc");
    }

    #[test]
    fn refusals() {
        let mut m = Model::new(Mode::Strict, &image(&[("a/x", b"")]));
        assert_eq!(m.create("a/x"), Err(ModelError::Exists));
        assert_eq!(m.create("b/x"), Err(ModelError::NotFound));
        assert_eq!(m.write("a", 0, b"x"), Err(ModelError::WrongKind));
        assert_eq!(m.rmdir("a"), Err(ModelError::NotEmpty));
        assert_eq!(m.unlink("a/nope"), Err(ModelError::NotFound));
    }
}
