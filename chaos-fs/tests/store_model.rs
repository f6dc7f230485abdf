//! Property tests: the real store (`chaos_fs::store`, on a temporary
//! backing directory, no FUSE) against the pure model
//! (`chaos_fs::model`). Random sequences of writes at offsets, truncates,
//! creates, renames, unlinks, mkdir/rmdir, file and directory fsyncs, in
//! both modes, then a crash (clean or torn): after every operation readers
//! must see what the model says, and after the crash the backing
//! directory must hold exactly what the model says survives.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use chaos_fs::model::{Image, Mode, Model};
use chaos_fs::store::{Kind, NodeId, ROOT, Store};
use proptest::prelude::*;

const FILES: [&str; 7] = ["a/x", "a/y", "b/y", "b/z", "x", "c/w", "c/x"];
const DIRS: [&str; 4] = ["", "a", "b", "c"];

#[derive(Clone, Debug)]
enum Op {
    Write {
        file: usize,
        off: u64,
        len: usize,
        byte: u8,
    },
    Truncate {
        file: usize,
        len: u64,
    },
    Create {
        file: usize,
    },
    Rename {
        from: usize,
        to: usize,
    },
    Unlink {
        file: usize,
    },
    Fsync {
        file: usize,
    },
    FsyncDir {
        dir: usize,
    },
    Mkdir,
    Rmdir,
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..FILES.len();
    prop_oneof![
        4 => (f.clone(), 0u64..48, 1usize..24, any::<u8>())
            .prop_map(|(file, off, len, byte)| Op::Write { file, off, len, byte }),
        1 => (f.clone(), 0u64..64).prop_map(|(file, len)| Op::Truncate { file, len }),
        2 => f.clone().prop_map(|file| Op::Create { file }),
        2 => (f.clone(), f.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => f.clone().prop_map(|file| Op::Unlink { file }),
        3 => f.clone().prop_map(|file| Op::Fsync { file }),
        3 => (0..DIRS.len()).prop_map(|dir| Op::FsyncDir { dir }),
        1 => Just(Op::Mkdir),
        1 => Just(Op::Rmdir),
    ]
}

fn initial() -> Image {
    Image {
        dirs: ["a".to_string(), "b".to_string()].into(),
        files: [
            ("a/x".to_string(), b"0123456789abcdef".to_vec()),
            ("b/y".to_string(), b"hello".to_vec()),
        ]
        .into(),
    }
}

fn write_image(root: &Path, img: &Image) {
    for d in &img.dirs {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for (p, b) in &img.files {
        fs::write(root.join(p), b).unwrap();
    }
}

fn read_image(root: &Path) -> Image {
    fn walk(root: &Path, rel: &str, img: &mut Image) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let p = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                img.dirs.insert(p.clone());
                walk(root, &p, img);
            } else {
                img.files
                    .insert(p.clone(), fs::read(root.join(&p)).unwrap());
            }
        }
    }
    let mut img = Image::default();
    walk(root, "", &mut img);
    img
}

/// The directory node and the last name of `path`.
fn resolve(s: &Store, path: &str) -> std::io::Result<(NodeId, String)> {
    let mut dir = ROOT;
    let parts: Vec<&str> = path.split('/').collect();
    for p in &parts[..parts.len() - 1] {
        dir = s.lookup(dir, OsStr::new(p))?;
    }
    Ok((dir, parts[parts.len() - 1].to_string()))
}

fn node(s: &Store, path: &str) -> std::io::Result<NodeId> {
    let (d, n) = resolve(s, path)?;
    s.lookup(d, OsStr::new(&n))
}

fn is_file(s: &Store, id: NodeId) -> std::io::Result<NodeId> {
    if s.attr(id)?.kind == Kind::Dir {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    Ok(id)
}

fn store_apply(s: &mut Store, op: &Op) -> std::io::Result<()> {
    match op {
        Op::Write {
            file,
            off,
            len,
            byte,
        } => {
            let id = is_file(s, node(s, FILES[*file])?)?;
            s.write(id, *off, &vec![*byte; *len])
        }
        Op::Truncate { file, len } => {
            let id = is_file(s, node(s, FILES[*file])?)?;
            s.truncate(id, *len)
        }
        Op::Create { file } => {
            let (d, n) = resolve(s, FILES[*file])?;
            s.create(d, OsStr::new(&n), 0o644, 0, 0).map(|_| ())
        }
        Op::Rename { from, to } => {
            let id = is_file(s, node(s, FILES[*from])?)?;
            let _ = id;
            let (fd, fname) = resolve(s, FILES[*from])?;
            let (td, tname) = resolve(s, FILES[*to])?;
            s.rename(fd, OsStr::new(&fname), td, OsStr::new(&tname), false)
        }
        Op::Unlink { file } => {
            let (d, n) = resolve(s, FILES[*file])?;
            s.unlink(d, OsStr::new(&n))
        }
        Op::Fsync { file } => {
            let id = is_file(s, node(s, FILES[*file])?)?;
            s.fsync(id)
        }
        Op::FsyncDir { dir } => {
            let id = if DIRS[*dir].is_empty() {
                ROOT
            } else {
                node(s, DIRS[*dir])?
            };
            s.fsync_dir(id)
        }
        Op::Mkdir => s.mkdir(ROOT, OsStr::new("c"), 0o755, 0, 0).map(|_| ()),
        Op::Rmdir => s.rmdir(ROOT, OsStr::new("c")),
    }
}

fn model_apply(m: &mut Model, op: &Op) -> bool {
    match op {
        Op::Write {
            file,
            off,
            len,
            byte,
        } => m.write(FILES[*file], *off, &vec![*byte; *len]).is_ok(),
        Op::Truncate { file, len } => m.truncate(FILES[*file], *len).is_ok(),
        Op::Create { file } => m.create(FILES[*file]).is_ok(),
        Op::Rename { from, to } => m.rename(FILES[*from], FILES[*to]).is_ok(),
        Op::Unlink { file } => m.unlink(FILES[*file]).is_ok(),
        Op::Fsync { file } => m.fsync(FILES[*file]).is_ok(),
        Op::FsyncDir { dir } => m.fsync_dir(DIRS[*dir]).is_ok(),
        Op::Mkdir => m.mkdir("c").is_ok(),
        Op::Rmdir => m.rmdir("c").is_ok(),
    }
}

/// What readers of the store see: directories and files with contents.
fn visible(s: &mut Store) -> (BTreeSet<String>, BTreeMap<String, Vec<u8>>) {
    let mut dirs = BTreeSet::new();
    let mut files = BTreeMap::new();
    let mut stack = vec![(ROOT, String::new())];
    while let Some((d, rel)) = stack.pop() {
        for (name, id, kind) in s.list(d).unwrap() {
            let name = name.into_string().unwrap();
            let p = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match kind {
                Kind::Dir => {
                    dirs.insert(p.clone());
                    stack.push((id, p));
                }
                Kind::File => {
                    let size = s.attr(id).unwrap().size;
                    let bytes = s.read(id, 0, size + 10).unwrap();
                    assert_eq!(bytes.len() as u64, size, "{p}: read length vs size");
                    files.insert(p, bytes);
                }
            }
        }
    }
    (dirs, files)
}

fn run(mode: Mode, ops: &[Op], torn: Option<usize>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let init = initial();
    write_image(root, &init);
    let mut model = Model::new(mode, &init);
    let mut store = Store::open(root, mode).unwrap();
    for (i, op) in ops.iter().enumerate() {
        let m_ok = model_apply(&mut model, op);
        let s_res = store_apply(&mut store, op);
        prop_assert_eq!(
            m_ok,
            s_res.is_ok(),
            "op {} {:?}: model ok={}, store {:?}",
            i,
            op,
            m_ok,
            s_res
        );
        let (dirs, files) = visible(&mut store);
        prop_assert_eq!(
            &dirs,
            model.visible_dirs(),
            "visible dirs after op {} {:?}",
            i,
            op
        );
        prop_assert_eq!(
            files,
            model.visible_files(),
            "visible files after op {} {:?}",
            i,
            op
        );
        prop_assert_eq!(store.pending().entries as usize, model.pending_entries());
    }
    let expect_range = model.torn_candidate().map_or(0, |(_, _, b)| b.len() as u64);
    prop_assert_eq!(store.torn_range().unwrap(), expect_range, "torn range");
    if let Some(k) = torn {
        store.tear(k as u64).unwrap();
    }
    drop(store); // the crash: everything in memory is gone
    let survived = read_image(root);
    prop_assert_eq!(
        &survived,
        &model.crash(torn),
        "after the crash, ops {:?}",
        ops
    );
    // A restart serves exactly what survived.
    let mut again = Store::open(root, mode).unwrap();
    let (dirs, files) = visible(&mut again);
    prop_assert_eq!(dirs, survived.dirs);
    prop_assert_eq!(files, survived.files);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn lazy_mode_matches_the_model(ops in prop::collection::vec(op(), 1..40), torn in prop::option::of(0usize..30)) {
        run(Mode::Lazy, &ops, torn)?;
    }

    #[test]
    fn strict_mode_matches_the_model(ops in prop::collection::vec(op(), 1..40), torn in prop::option::of(0usize..30)) {
        run(Mode::Strict, &ops, torn)?;
    }
}

/// A file opened, unlinked and still written and read through its handle,
/// as databases do with files they are about to drop.
#[test]
fn an_open_unlinked_file_keeps_serving_its_handle() {
    for mode in [Mode::Lazy, Mode::Strict] {
        let tmp = tempfile::tempdir().unwrap();
        write_image(tmp.path(), &initial());
        let mut s = Store::open(tmp.path(), mode).unwrap();
        let a = s.lookup(ROOT, OsStr::new("a")).unwrap();
        let x = s.lookup(a, OsStr::new("x")).unwrap();
        s.open_handle(x).unwrap();
        s.unlink(a, OsStr::new("x")).unwrap();
        s.fsync_dir(a).unwrap();
        assert!(!tmp.path().join("a/x").exists(), "{mode:?}");
        s.write(x, 0, b"ZZ").unwrap();
        s.fsync(x).unwrap();
        assert_eq!(s.read(x, 0, 100).unwrap(), b"ZZ23456789abcdef");
        s.release(x);
        assert!(s.attr(x).is_err(), "{mode:?}: dropped once released");
    }
}

/// Directory renames are at once in both modes and carry pending data.
#[test]
fn a_directory_rename_keeps_pending_data_pending() {
    for mode in [Mode::Lazy, Mode::Strict] {
        let tmp = tempfile::tempdir().unwrap();
        write_image(tmp.path(), &initial());
        let mut s = Store::open(tmp.path(), mode).unwrap();
        let a = s.lookup(ROOT, OsStr::new("a")).unwrap();
        let x = s.lookup(a, OsStr::new("x")).unwrap();
        s.write(x, 0, b"new").unwrap();
        s.rename(ROOT, OsStr::new("a"), ROOT, OsStr::new("d"), false)
            .unwrap();
        assert!(tmp.path().join("d/x").exists());
        assert_eq!(
            fs::read(tmp.path().join("d/x")).unwrap(),
            b"0123456789abcdef"
        );
        s.fsync(x).unwrap();
        assert_eq!(
            fs::read(tmp.path().join("d/x")).unwrap(),
            b"new3456789abcdef"
        );
        assert_eq!(s.pending().bytes, 0);
    }
}

/// flush_all (a clean shutdown) writes every pending byte and entry.
#[test]
fn flush_all_writes_everything_through() {
    let tmp = tempfile::tempdir().unwrap();
    write_image(tmp.path(), &initial());
    let mut s = Store::open(tmp.path(), Mode::Strict).unwrap();
    let a = s.lookup(ROOT, OsStr::new("a")).unwrap();
    let n = s.create(a, OsStr::new("n"), 0o600, 0, 0).unwrap();
    s.write(n, 3, b"abc").unwrap();
    assert_eq!(s.pending().bytes, 3);
    assert_eq!(s.pending().entries, 1);
    s.flush_all().unwrap();
    assert_eq!(fs::read(tmp.path().join("a/n")).unwrap(), b"\0\0\0abc");
    assert_eq!(s.pending().bytes, 0);
    assert_eq!(s.pending().entries, 0);
}
