//! Where the BitLocker volume is on a device or image: at its start (a partition, or a
//! volume image), or in a partition of a whole disk with an MBR or GPT partition table.
//! A BitLocker volume's boot sector carries `-FVE-FS-` at offset 3.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// The signature at offset 3 of a BitLocker volume's boot sector.
pub const SIGNATURE: &[u8; 8] = b"-FVE-FS-";
const SECTOR: u64 = 512;
const GPT_PROTECTIVE: u8 = 0xEE;
const EXTENDED: [u8; 3] = [0x05, 0x0F, 0x85];

/// Where a BitLocker volume lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Bytes from the start of the device or image.
    pub offset: u64,
    /// The partition's length, when it is one; `None` for a volume that fills the device.
    pub length: Option<u64>,
    /// The partition number (from 1, in table order), when it is one.
    pub partition: Option<u32>,
}

/// Finds the BitLocker volume on `path`: `Ok(None)` when neither the start nor any partition
/// of a partition table is BitLocker.
pub fn locate(path: &Path) -> io::Result<Option<Placement>> {
    // Only a disk image or a block device can hold a volume: a FIFO or a character device is
    // not opened (opening a FIFO waits for a writer for ever).
    let kind = std::fs::metadata(path)?.file_type();
    if !(kind.is_file() || std::os::unix::fs::FileTypeExt::is_block_device(&kind)) {
        return Ok(None);
    }
    let mut file = File::open(path)?;
    let sector = read_at(&mut file, 0, SECTOR as usize)?;
    if is_bitlocker(&sector) {
        return Ok(Some(Placement {
            offset: 0,
            length: None,
            partition: None,
        }));
    }
    for (number, offset, length) in partitions(&mut file, &sector)? {
        let boot = read_at(&mut file, offset, SECTOR as usize)?;
        if is_bitlocker(&boot) {
            return Ok(Some(Placement {
                offset,
                length: Some(length),
                partition: Some(number),
            }));
        }
    }
    Ok(None)
}

fn is_bitlocker(boot_sector: &[u8]) -> bool {
    boot_sector.get(3..11) == Some(SIGNATURE.as_slice())
}

/// The partitions of an MBR or GPT table as (number, offset, length) in bytes; empty when
/// the first sector holds no table.
fn partitions(file: &mut File, mbr: &[u8]) -> io::Result<Vec<(u32, u64, u64)>> {
    if mbr.len() < 512 || mbr[510..512] != [0x55, 0xAA] {
        return Ok(Vec::new());
    }
    let entries: Vec<(u8, u64, u64)> = (0..4)
        .map(|i| {
            let entry = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
            let start = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
            let count = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
            (entry[4], u64::from(start), u64::from(count))
        })
        .collect();
    if entries.iter().any(|(kind, _, _)| *kind == GPT_PROTECTIVE) {
        for sector_size in [512u64, 4096] {
            let found = gpt_partitions(file, sector_size)?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        return Ok(Vec::new());
    }
    Ok(entries
        .into_iter()
        .zip(1u32..)
        .filter(|((kind, start, count), _)| {
            *kind != 0 && !EXTENDED.contains(kind) && *start > 0 && *count > 0
        })
        .map(|((_, start, count), number)| (number, start * SECTOR, count * SECTOR))
        .collect())
}

/// The partitions of a GPT whose header is at LBA 1 of `sector_size` bytes.
fn gpt_partitions(file: &mut File, sector_size: u64) -> io::Result<Vec<(u32, u64, u64)>> {
    let header = read_at(file, sector_size, 92)?;
    if header.len() < 92 || &header[0..8] != b"EFI PART" {
        return Ok(Vec::new());
    }
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
    let table_lba = u64_at(&header, 72);
    // Sane bounds: a hostile table must not make us read gigabytes.
    let count = u32_at(&header, 80).min(1024);
    let entry_size = u64::from(u32_at(&header, 84));
    if !(128..=4096).contains(&entry_size) {
        return Ok(Vec::new());
    }
    let table = read_at(
        file,
        table_lba.saturating_mul(sector_size),
        (u64::from(count) * entry_size) as usize,
    )?;
    let mut found = Vec::new();
    for (index, entry) in table.chunks_exact(entry_size as usize).enumerate() {
        if entry[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let first = u64_at(entry, 32);
        let last = u64_at(entry, 40);
        if first == 0 || last < first {
            continue;
        }
        found.push((
            index as u32 + 1,
            first.saturating_mul(sector_size),
            (last - first + 1).saturating_mul(sector_size),
        ));
    }
    Ok(found)
}

/// Up to `length` bytes at `offset` (fewer at the end of the file).
fn read_at(file: &mut File, offset: u64, length: usize) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = Vec::with_capacity(length);
    file.by_ref().take(length as u64).read_to_end(&mut buffer)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn boot_sector() -> Vec<u8> {
        let mut sector = vec![0u8; 512];
        sector[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
        sector[3..11].copy_from_slice(SIGNATURE);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        sector
    }

    fn image(bytes: &[(u64, Vec<u8>)]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for (offset, data) in bytes {
            file.seek(SeekFrom::Start(*offset)).unwrap();
            file.write_all(data).unwrap();
        }
        file.flush().unwrap();
        file
    }

    #[test]
    fn a_volume_image_starts_with_the_signature() {
        let file = image(&[(0, boot_sector())]);
        assert_eq!(
            locate(file.path()).unwrap(),
            Some(Placement {
                offset: 0,
                length: None,
                partition: None
            })
        );
        let plain = image(&[(0, vec![0u8; 4096])]);
        assert_eq!(locate(plain.path()).unwrap(), None);
    }

    #[test]
    fn finds_the_bitlocker_partition_of_an_mbr_disk() {
        let mut mbr = vec![0u8; 512];
        // Partition 1: FAT at 1 MiB, not BitLocker; partition 2: NTFS/BitLocker at 2 MiB.
        for (i, (kind, start, count)) in [(0x0Cu8, 2048u32, 2048u32), (0x07, 4096, 8192)]
            .into_iter()
            .enumerate()
        {
            let entry = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
            entry[4] = kind;
            entry[8..12].copy_from_slice(&start.to_le_bytes());
            entry[12..16].copy_from_slice(&count.to_le_bytes());
        }
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        let file = image(&[
            (0, mbr),
            (2048 * 512, vec![1u8; 512]),
            (4096 * 512, boot_sector()),
        ]);
        assert_eq!(
            locate(file.path()).unwrap(),
            Some(Placement {
                offset: 4096 * 512,
                length: Some(8192 * 512),
                partition: Some(2)
            })
        );
    }

    #[test]
    fn finds_the_bitlocker_partition_of_a_gpt_disk() {
        let mut mbr = vec![0u8; 512];
        mbr[446 + 4] = GPT_PROTECTIVE;
        mbr[446 + 8] = 1;
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        let mut header = vec![0u8; 92];
        header[0..8].copy_from_slice(b"EFI PART");
        header[72..80].copy_from_slice(&2u64.to_le_bytes());
        header[80..84].copy_from_slice(&128u32.to_le_bytes());
        header[84..88].copy_from_slice(&128u32.to_le_bytes());
        let mut table = vec![0u8; 128 * 128];
        // Entry 1: an EFI system partition; entry 3: Microsoft basic data, BitLocker.
        for (index, first, last) in [(0usize, 34u64, 2047u64), (2, 2048, 10239)] {
            let entry = &mut table[index * 128..(index + 1) * 128];
            entry[0] = 0xA2;
            entry[32..40].copy_from_slice(&first.to_le_bytes());
            entry[40..48].copy_from_slice(&last.to_le_bytes());
        }
        let file = image(&[
            (0, mbr),
            (512, header),
            (1024, table),
            (2048 * 512, boot_sector()),
        ]);
        assert_eq!(
            locate(file.path()).unwrap(),
            Some(Placement {
                offset: 2048 * 512,
                length: Some(8192 * 512),
                partition: Some(3)
            })
        );
    }
}
