//! Reading an image file from an untrusted path: the file's type, size and signature are checked
//! before its content is read, so that a FIFO, a device (`/dev/zero`) or a huge non-image file
//! named `.jpg` is refused at once instead of blocking or filling the memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::decode::sniff;
use super::ImageError;

/// Files larger than this (1 GiB) are refused before any byte is read. A JPEG or PNG of
/// Pillow's pixel limit (`DEFAULT_MAX_PIXELS`, 179 million pixels) is far smaller.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Why an image file could not be read: the file system said no, or the file is not an image.
#[derive(Debug)]
pub enum FileError {
    Io(io::Error),
    Image(ImageError),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        FileError::Io(e)
    }
}

impl From<ImageError> for FileError {
    fn from(e: ImageError) -> Self {
        FileError::Image(e)
    }
}

/// Opens without blocking: opening a FIFO for reading blocks until a writer appears, unless
/// O_NONBLOCK is set (which changes nothing for a regular file).
fn open(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_symlink() {
        return "a symbolic link";
    }
    "not a regular file"
}

/// Reads the whole of an image file after checking, in this order: that it is a regular file
/// (a directory is an `Io` error, as reading one always was; a FIFO, device or socket an
/// `ImageError::NotRegularFile`), that it holds at most `max_bytes` bytes, and that its first
/// bytes are a JPEG or PNG signature. Only then is the rest read.
pub fn read_image_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let file = open(path)?;
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if ft.is_dir() {
        #[cfg(unix)]
        return Err(FileError::Io(io::Error::from_raw_os_error(libc::EISDIR)));
        #[cfg(not(unix))]
        return Err(FileError::Io(io::Error::new(io::ErrorKind::Other, "is a directory")));
    }
    if !ft.is_file() {
        return Err(ImageError::NotRegularFile(file_kind(&ft).into()).into());
    }
    let size = meta.len();
    if size > max_bytes {
        return Err(ImageError::FileTooLarge { size, limit: max_bytes }.into());
    }
    // The signature first: a large non-image file is refused after 8 bytes, not read whole.
    let mut head = [0u8; 8];
    let mut got = 0;
    let mut reader = file.take(max_bytes + 1);
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    sniff(&head[..got])?;
    let mut data = Vec::new();
    data.try_reserve_exact(size as usize)
        .map_err(|_| ImageError::Unsupported(format!("cannot allocate {size} bytes to read the file")))?;
    data.extend_from_slice(&head[..got]);
    reader.read_to_end(&mut data)?;
    // The file may have grown since it was measured.
    if data.len() as u64 > max_bytes {
        return Err(ImageError::FileTooLarge { size: data.len() as u64, limit: max_bytes }.into());
    }
    Ok(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("trex-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn a_device_is_refused_without_reading() {
        let err = read_image_file(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
        assert!(matches!(err, FileError::Image(ImageError::NotRegularFile(_))), "{err:?}");
    }

    #[test]
    fn a_directory_is_an_io_error() {
        let err = read_image_file(&std::env::temp_dir(), MAX_FILE_BYTES).unwrap_err();
        assert!(matches!(err, FileError::Io(_)), "{err:?}");
    }

    #[test]
    fn size_and_signature_are_checked_first() {
        let p = temp("big.jpg", &[0xFF, 0xD8, 0xFF, 0, 0, 0, 0, 0, 0, 0]);
        let err = read_image_file(&p, 9).unwrap_err();
        assert!(matches!(err, FileError::Image(ImageError::FileTooLarge { size: 10, limit: 9 })), "{err:?}");
        assert_eq!(read_image_file(&p, 10).unwrap().len(), 10);
        let p = temp("text.jpg", b"hello world");
        let err = read_image_file(&p, MAX_FILE_BYTES).unwrap_err();
        assert!(matches!(err, FileError::Image(ImageError::UnknownFormat(_))), "{err:?}");
        let p = temp("empty.jpg", b"");
        let err = read_image_file(&p, MAX_FILE_BYTES).unwrap_err();
        assert!(matches!(err, FileError::Image(ImageError::Empty)), "{err:?}");
    }
}
