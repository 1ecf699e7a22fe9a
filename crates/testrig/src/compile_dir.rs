//! Where the running plan was compiled: the folder the compiler ran in for its crate (the
//! root its `file!()` paths are relative to), read from the binary's debug information.
//! Source locations in reports, reload's watch set and affected selection start from it.
//! Reading it takes the `object` crate, compiled with the `affected` feature; without it
//! the plan falls back to the nearest ancestor of the working folder with a `Cargo.lock`.

#[cfg(feature = "affected")]
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The folder source locations are relative to: `file!()` paths are relative to the cargo
/// workspace root the plan was compiled in (from its debug information), else the nearest
/// ancestor of the working folder with a `Cargo.lock`.
pub fn source_root() -> Option<String> {
    if let Some(dir) = compiled_in() {
        return Some(dir.display().to_string());
    }
    let current = std::env::current_dir().ok()?;
    current
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(|dir| dir.display().to_string())
}

/// The folder the running plan's crate was compiled in (the root its `file!()` paths are
/// relative to), from its debug information; read once.
pub fn compiled_in() -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        compile_dirs(&exe).into_iter().next()
    })
    .as_deref()
}

/// The folders the compiler ran in for the binary's first compile units (their DWARF
/// `DW_AT_comp_dir`), kept when the unit's crate root is found there: for a cargo build
/// the plan crate's units come first, compiled in its workspace root. Empty without debug
/// information.
#[cfg(feature = "affected")]
pub(crate) fn compile_dirs(exe: &Path) -> Vec<PathBuf> {
    use object::read::elf::{FileHeader, SectionHeader};

    let Ok(file) = std::fs::File::open(exe) else {
        return Vec::new();
    };
    // The section headers only: parsing the whole file would read its symbol tables too.
    let cache = object::read::ReadCache::new(file);
    let Ok(header) = object::elf::FileHeader64::<object::Endianness>::parse(&cache) else {
        return Vec::new();
    };
    let Ok(endian) = header.endian() else {
        return Vec::new();
    };
    let Ok(sections) = header.sections(endian, &cache) else {
        return Vec::new();
    };
    let range = |name: &str| {
        let (_, section) = sections.section_by_name(endian, name.as_bytes())?;
        let compressed = section
            .sh_flags(endian)
            .contains(object::elf::SHF_COMPRESSED);
        (!compressed).then(|| (section.sh_offset(endian), section.sh_size(endian)))
    };
    let (Some(info), Some(abbrev)) = (range(".debug_info"), range(".debug_abbrev")) else {
        return Vec::new();
    };
    let Ok(file) = std::fs::File::open(exe) else {
        return Vec::new();
    };
    let dwarf = Dwarf {
        file,
        abbrev,
        strings: range(".debug_str"),
        line_strings: range(".debug_line_str"),
    };
    let mut dirs = Vec::new();
    let mut offset = 0;
    for _ in 0..8 {
        let Some((length, unit)) = dwarf.unit(info.0 + offset) else {
            break;
        };
        if let Some((name, dir)) = unit {
            let root = name.split("/@/").next().unwrap_or_default();
            let dir = PathBuf::from(dir);
            if dir.is_absolute() && dir.join(root).is_file() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        offset += length;
        if offset >= info.1 {
            break;
        }
    }
    dirs
}

/// Just enough DWARF to read a compile unit's name and compilation folder.
#[cfg(feature = "affected")]
struct Dwarf {
    file: std::fs::File,
    abbrev: (u64, u64),
    strings: Option<(u64, u64)>,
    line_strings: Option<(u64, u64)>,
}

#[cfg(feature = "affected")]
impl Dwarf {
    fn bytes(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let mut buffer = vec![0; len];
        let read = self.file.read_at(&mut buffer, offset).ok()?;
        buffer.truncate(read);
        Some(buffer)
    }

    fn string(&self, section: Option<(u64, u64)>, at: u64) -> Option<String> {
        let (start, size) = section?;
        if at >= size {
            return None;
        }
        let bytes = self.bytes(start + at, 4096)?;
        let end = bytes.iter().position(|&byte| byte == 0)?;
        String::from_utf8(bytes[..end].to_vec()).ok()
    }

    /// The unit at `at` (a file offset): its whole length, and its name and folder when its
    /// first entry has both.
    fn unit(&self, at: u64) -> Option<(u64, Option<(String, String)>)> {
        let header = self.bytes(at, 4096)?;
        let mut reader = Reader(&header);
        let length = u64::from(reader.u32()?);
        if length >= 0xffff_fff0 {
            return None;
        }
        let version = reader.u16()?;
        let (address_size, abbrev_offset) = match version {
            2..=4 => {
                let abbrev = reader.u32()?;
                (reader.u8()?, abbrev)
            }
            5 => {
                let unit_type = reader.u8()?;
                let address_size = reader.u8()?;
                let abbrev = reader.u32()?;
                if unit_type != 1 && unit_type != 3 {
                    return Some((length + 4, None));
                }
                (address_size, abbrev)
            }
            _ => return None,
        };
        let code = reader.uleb()?;
        let attributes = self.abbreviation(u64::from(abbrev_offset), code)?;
        let (mut name, mut dir) = (None, None);
        for (attribute, form) in attributes {
            let value = match form {
                0x0e => self.string(self.strings, u64::from(reader.u32()?)),
                0x1f => self.string(self.line_strings, u64::from(reader.u32()?)),
                0x08 => {
                    let end = reader.0.iter().position(|&byte| byte == 0)?;
                    let text = String::from_utf8(reader.0[..end].to_vec()).ok();
                    reader.0 = &reader.0[end + 1..];
                    text
                }
                form => {
                    reader.skip(form, address_size)?;
                    None
                }
            };
            match attribute {
                0x03 => name = value,
                0x1b => dir = value,
                _ => {}
            }
        }
        Some((length + 4, name.zip(dir)))
    }

    /// The attributes (name, form) of abbreviation `code` in the table at `offset`.
    fn abbreviation(&self, offset: u64, code: u64) -> Option<Vec<(u64, u64)>> {
        if offset >= self.abbrev.1 {
            return None;
        }
        let table = self.bytes(self.abbrev.0 + offset, 16_384)?;
        let mut reader = Reader(&table);
        loop {
            let this = reader.uleb()?;
            if this == 0 {
                return None;
            }
            let _tag = reader.uleb()?;
            let _children = reader.u8()?;
            let mut attributes = Vec::new();
            loop {
                let (attribute, form) = (reader.uleb()?, reader.uleb()?);
                if form == 0x21 {
                    reader.uleb()?;
                }
                if (attribute, form) == (0, 0) {
                    break;
                }
                attributes.push((attribute, form));
            }
            if this == code {
                return Some(attributes);
            }
        }
    }
}

#[cfg(feature = "affected")]
struct Reader<'a>(&'a [u8]);

#[cfg(feature = "affected")]
impl Reader<'_> {
    fn take(&mut self, count: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(count)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// Skips an attribute value of this form (32-bit DWARF).
    fn skip(&mut self, form: u64, address_size: u8) -> Option<()> {
        let fixed = match form {
            0x01 => usize::from(address_size),
            0x0b | 0x0c | 0x11 | 0x25 | 0x29 => 1,
            0x05 | 0x12 | 0x26 | 0x2a => 2,
            0x27 | 0x2b => 3,
            0x06 | 0x10 | 0x13 | 0x17 | 0x28 | 0x2c | 0x0e | 0x1f => 4,
            0x07 | 0x14 | 0x20 => 8,
            0x1e => 16,
            0x19 | 0x21 => 0,
            0x0d | 0x0f | 0x15 | 0x1a | 0x1b => {
                self.uleb()?;
                0
            }
            0x0a => usize::from(self.u8()?),
            0x03 => usize::from(self.u16()?),
            0x04 => usize::try_from(self.u32()?).ok()?,
            0x09 | 0x18 => usize::try_from(self.uleb()?).ok()?,
            _ => return None,
        };
        self.take(fixed).map(|_| ())
    }
}

/// Without the `affected` feature the debug information is not read.
#[cfg(not(feature = "affected"))]
pub(crate) fn compile_dirs(_exe: &Path) -> Vec<PathBuf> {
    Vec::new()
}
