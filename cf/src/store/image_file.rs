//! The snapshot image as a file of its own next to the sled database, written in one pass from
//! the server's buffer and replaced atomically.
//!
//! ```text
//! magic "CFIMAGE1" | seq (u64 BE) | image length (u64 BE) | image
//! ```
//!
//! Handing a facility image of tens of megabytes to sled copied it three times (into a sled
//! value, into sled's write buffer, into its blob file) and faulted in fresh pages for each
//! copy: most of the CF's CPU time in a growing write load. The file takes one `write` and one
//! `fsync`; a new image goes to a temporary file that is renamed over the old one only once it
//! is on disk, so a crash leaves the old image or the new one, never a mix.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use super::{Snapshot, StoreError};

/// The image file's name in the database directory.
const FILE_NAME: &str = "facility.image";
/// The name a new image is written under until it is complete.
const TEMPORARY_NAME: &str = "facility.image.new";
const MAGIC: &[u8; 8] = b"CFIMAGE1";
const HEADER_LEN: usize = 24;

/// The image file of a database directory.
#[derive(Debug, Clone)]
pub(super) struct ImageFile {
    dir: PathBuf,
}

impl ImageFile {
    /// The image file in `dir`.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Replaces the image with `image`, taken at `seq`; returns once it is durable.
    pub(super) fn save(&self, seq: u64, image: &[u8]) -> Result<(), StoreError> {
        let temporary = self.dir.join(TEMPORARY_NAME);
        let mut file = File::create(&temporary)?;
        file.write_all(&header(seq, image.len()))?;
        file.write_all(image)?;
        file.sync_data()?;
        drop(file);
        fs::rename(&temporary, self.dir.join(FILE_NAME))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// The sequence number of the saved image, without reading the image.
    pub(super) fn seq(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.open()?.map(|(seq, _, _)| seq))
    }

    /// The saved image, if there is one.
    pub(super) fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let Some((seq, len, mut file)) = self.open()? else {
            return Ok(None);
        };
        let mut image = Vec::new();
        image
            .try_reserve_exact(len)
            .map_err(|_| corrupt("too large"))?;
        file.read_to_end(&mut image)?;
        if image.len() != len {
            return Err(corrupt("shorter or longer than its header says"));
        }
        Ok(Some(Snapshot { seq, image }))
    }

    /// The file after its header, with the header's sequence number and image length.
    fn open(&self) -> Result<Option<(u64, usize, File)>, StoreError> {
        let mut file = match File::open(self.dir.join(FILE_NAME)) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header)
            .map_err(|_| corrupt("shorter than its header"))?;
        let (magic, rest) = header.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(corrupt("not an image file"));
        }
        let (seq, len) = rest.split_at(8);
        let seq = u64::from_be_bytes(seq.try_into().map_err(|_| corrupt("header"))?);
        let len = u64::from_be_bytes(len.try_into().map_err(|_| corrupt("header"))?);
        let len = usize::try_from(len).map_err(|_| corrupt("too large"))?;
        Ok(Some((seq, len, file)))
    }
}

fn header(seq: u64, len: usize) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&seq.to_be_bytes());
    header[16..].copy_from_slice(&u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
    header
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot image file: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_reads_back_as_saved_and_a_new_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = ImageFile::new(dir.path());
        assert_eq!(file.load().unwrap(), None);
        file.save(7, b"first").unwrap();
        file.save(9, b"second image").unwrap();
        let loaded = file.load().unwrap().unwrap();
        assert_eq!(
            (loaded.seq, loaded.image.as_slice()),
            (9, &b"second image"[..])
        );
        assert_eq!(file.seq().unwrap(), Some(9));
        assert!(!dir.path().join(TEMPORARY_NAME).exists());
    }

    #[test]
    fn a_cut_image_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let file = ImageFile::new(dir.path());
        file.save(3, b"an image of some length").unwrap();
        let path = dir.path().join(FILE_NAME);
        let bytes = fs::read(&path).unwrap();
        for cut in [0, 5, HEADER_LEN, bytes.len() - 1] {
            fs::write(&path, &bytes[..cut]).unwrap();
            assert!(file.load().is_err(), "cut at {cut} loaded");
        }
    }
}
