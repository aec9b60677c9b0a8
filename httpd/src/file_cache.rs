//! Hot files kept whole in memory, so that a response costs no `open`,
//! `read` or `close`, and its body goes to TCP by reference
//! (`Stack::send_bytes`) instead of being read into a buffer and copied.
//!
//! A snapshot stands for one identity of its file, the one its ETag names:
//! inode, size and modification time to the nanosecond (`FileId`). It is
//! served only to a request whose lookup (`files::LookupCache`, which
//! stats the path again at most once a second) found that same identity.
//! So a file replaced or rewritten is seen within `LookupCache::FRESH`, as
//! a deleted one already is; until then the old snapshot is served whole,
//! with its own ETag, never a mix of old and new bytes. A response holds
//! its own reference to the snapshot (`Bytes`), so one that is under way
//! when the file changes ends with the bytes it began with.
//!
//! Bounded: every snapshot counts against `max_bytes` for as long as
//! anything holds it, the cache or a response still being sent; a file
//! that does not fit, or is larger than `max_file`, is read from disk a
//! chunk at a time as before.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ahash::RandomState;
use bytes::Bytes;

/// What a file is, as far as its ETag tells: any change of these is a
/// different file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub modified: SystemTime,
}

impl FileId {
    pub fn of(meta: &Metadata) -> io::Result<FileId> {
        Ok(FileId { dev: meta.dev(), ino: meta.ino(), len: meta.len(), modified: meta.modified()? })
    }
}

/// How much the cache may hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// All snapshots together, as long as anything holds them; 0: no cache.
    pub max_bytes: usize,
    /// The largest file kept.
    pub max_file: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: 64 << 20, max_file: 4 << 20 }
    }
}

/// What one snapshot costs besides its bytes: the entry and its key.
const ENTRY_OVERHEAD: usize = 128;

struct Entry {
    id: FileId,
    snapshot: Bytes,
    /// What it counts against the bound.
    charge: usize,
}

#[derive(Default)]
pub struct FileCache {
    limits: Limits,
    /// Looked up on every request for a file: a fast hash, randomly keyed;
    /// its keys are files of the site, which a peer cannot make up.
    entries: HashMap<PathBuf, Entry, RandomState>,
    /// Snapshots dropped from `entries` (replaced or evicted) while a
    /// response still held them; they count until nothing does.
    retired: Vec<Bytes>,
    /// Bytes counted: entries and retired snapshots.
    held: usize,
}

impl FileCache {
    pub fn new(limits: Limits) -> FileCache {
        FileCache { limits, ..FileCache::default() }
    }

    /// The snapshot of `path` if it is of the file `id`.
    pub fn get(&self, path: &Path, id: FileId) -> Option<Bytes> {
        self.entries.get(path).filter(|e| e.id == id).map(|e| e.snapshot.clone())
    }

    /// The snapshot of `file`, opened at `path` and found to be `id`: the
    /// cached one, or one read now if it fits. `None`: serve it from the
    /// file (too large, no room, or it changed while being read).
    pub fn load(&mut self, path: &Path, id: FileId, file: &File) -> Option<Bytes> {
        if let Some(snapshot) = self.get(path, id) {
            return Some(snapshot);
        }
        let size = usize::try_from(id.len).ok().filter(|&n| n <= self.limits.max_file)?;
        if let Some(old) = self.entries.remove(path) {
            self.held -= old.charge;
            self.retire(old.snapshot);
        }
        let charge = size + path.as_os_str().len() + ENTRY_OVERHEAD;
        if !self.make_room(charge) {
            return None;
        }
        // At an offset, so a file served from disk after all starts where
        // it should.
        let mut contents = vec![0; size];
        file.read_exact_at(&mut contents, 0).ok()?;
        // Written to meanwhile (or grown: the size is part of it): these
        // bytes may be a mix.
        if FileId::of(&file.metadata().ok()?).ok()? != id {
            return None;
        }
        let snapshot = Bytes::from(contents);
        self.held += charge;
        self.entries.insert(path.to_path_buf(), Entry { id, snapshot: snapshot.clone(), charge });
        Some(snapshot)
    }

    /// Bytes counted against `Limits::max_bytes`.
    pub fn held(&self) -> usize {
        self.held
    }

    /// A snapshot leaves the cache: it stays counted while responses hold it.
    fn retire(&mut self, snapshot: Bytes) {
        if !snapshot.is_unique() {
            self.held += snapshot.len() + ENTRY_OVERHEAD;
            self.retired.push(snapshot);
        }
    }

    /// Makes room for `charge` more bytes if it can: forgets the retired
    /// snapshots nothing holds any more, then entries no response holds,
    /// in no particular order (freeing one held by a response would free
    /// nothing).
    fn make_room(&mut self, charge: usize) -> bool {
        let mut freed = 0;
        self.retired.retain(|snapshot| {
            let gone = snapshot.is_unique();
            freed += if gone { snapshot.len() + ENTRY_OVERHEAD } else { 0 };
            !gone
        });
        self.held -= freed;
        let over = (self.held + charge).saturating_sub(self.limits.max_bytes);
        if over > 0 {
            let mut freed = 0;
            self.entries.retain(|_, entry| {
                let keep = freed >= over || !entry.snapshot.is_unique();
                freed += if keep { 0 } else { entry.charge };
                keep
            });
            self.held -= freed;
        }
        self.held + charge <= self.limits.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `len` bytes in `dir`, opened, and what it is.
    fn file(dir: &Path, name: &str, len: usize) -> (PathBuf, File, FileId) {
        let path = dir.join(name);
        std::fs::write(&path, vec![name.as_bytes()[0]; len]).unwrap();
        let file = File::open(&path).unwrap();
        let id = FileId::of(&file.metadata().unwrap()).unwrap();
        (path, file, id)
    }

    /// The bound holds whatever is asked: entries are evicted to make room,
    /// except those a response still holds, which count until let go; a
    /// file that cannot fit is not cached (it is served from disk).
    #[test]
    fn holds_no_more_than_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { max_bytes: 10_000, max_file: 4_000 };
        let mut cache = FileCache::new(limits);
        let (a, fa, ia) = file(dir.path(), "a", 3_000);
        let held_a = cache.load(&a, ia, &fa).unwrap(); // a response holds it
        assert_eq!(&held_a[..], &[b'a'; 3_000][..]);
        for name in ["b", "c", "d", "e", "f", "g"] {
            let (p, f, id) = file(dir.path(), name, 3_000);
            assert!(cache.load(&p, id, &f).is_some());
            assert!(cache.held() <= limits.max_bytes, "{} held", cache.held());
            assert!(cache.get(&a, ia).is_some(), "a snapshot in use was evicted");
        }
        let (big, fbig, ibig) = file(dir.path(), "z", 4_001);
        assert!(cache.load(&big, ibig, &fbig).is_none(), "over max_file");
        // With three snapshots held by responses, a fourth cannot fit.
        let (p, f, id) = file(dir.path(), "h", 3_000);
        let held_h = cache.load(&p, id, &f).unwrap();
        let (p, f, id) = file(dir.path(), "i", 3_000);
        let held_i = cache.load(&p, id, &f).unwrap();
        let (p, f, id) = file(dir.path(), "j", 3_000);
        assert!(cache.load(&p, id, &f).is_none(), "no room: every entry is in use");
        assert!(cache.held() <= limits.max_bytes);
        // Replaced while in use: the old snapshot still counts.
        let (a2, fa2, ia2) = file(dir.path(), "a", 100);
        assert_eq!(a2, a);
        assert_eq!(&cache.load(&a, ia2, &fa2).unwrap()[..], &[b'a'; 100][..]);
        assert!(cache.held() >= 3 * 3_000 + 100, "the replaced snapshot is still counted");
        drop((held_a, held_h, held_i));
        assert!(cache.load(&p, id, &f).is_some(), "room again once the responses let go");
        assert!(cache.held() <= limits.max_bytes);
    }

    /// A file rewritten while it is read is not cached as a mix: its
    /// identity after the read is not the one before.
    #[test]
    fn a_file_changed_since_its_lookup_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = FileCache::new(Limits::default());
        let (path, f, id) = file(dir.path(), "x", 1000);
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Write::write_all(&mut &writer, &[b'y'; 1000]).unwrap();
        // Same size and inode: only the modification time tells, and a
        // coarse clock may not have moved since the first write.
        writer.set_modified(id.modified + std::time::Duration::from_millis(1)).unwrap();
        let now = FileId::of(&f.metadata().unwrap()).unwrap();
        assert!(cache.load(&path, id, &f).is_none());
        assert_eq!(&cache.load(&path, now, &f).unwrap()[..], &[b'y'; 1000][..]);
    }
}
