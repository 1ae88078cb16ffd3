//! The drive manifest (`DriveManifest`, formats.md §1), read in one streaming pass.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use quick_xml::events::BytesStart;
use serde::Serialize;

use super::md5::{Md5, shorten};
use super::xml::{
    self, ElementPath, FormatError, FormatErrorKind, Handler, Origin, attribute, checked_path,
    parse_blob_length, parse_u64, required_attribute, set_once,
};

/// A parsed drive manifest. Import-only elements are accepted and dropped; a
/// `StorageAccountKey`/`ContainerSas` is never kept (its text is discarded as it is read).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub version: Option<String>,
    pub drive_id: String,
    pub client_creator: Option<String>,
    pub blobs: Vec<ManifestBlob>,
}

/// One `Blob` of the manifest: a blob (or snapshot) and the file that holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestBlob {
    pub blob_path: String,
    /// Drive-relative, `\`-separated, exactly as the manifest spells it.
    pub file_path: String,
    pub client_data: Option<String>,
    pub snapshot: Option<String>,
    pub length: u64,
    pub kind: RangeKind,
    /// Sorted by offset, non-overlapping, within `length`.
    pub ranges: Vec<Range>,
    pub metadata: Option<SideFile>,
    pub properties: Option<SideFile>,
}

/// Whether a blob's ranges are blocks (block blob) or page ranges (page blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    Block,
    Page,
}

impl RangeKind {
    /// The element name of one range.
    pub fn element(self) -> &'static str {
        match self {
            RangeKind::Block => "Block",
            RangeKind::Page => "PageRange",
        }
    }

    /// The element name of the list.
    pub fn list_element(self) -> &'static str {
        match self {
            RangeKind::Block => "BlockList",
            RangeKind::Page => "PageRangeList",
        }
    }
}

/// A block or page range and its MD5.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Range {
    pub offset: u64,
    pub length: u64,
    /// Block ID (Base64) when given; boxed to keep a million ranges small.
    pub id: Option<Box<str>>,
    pub hash: Md5,
}

/// A properties or metadata file named by the manifest, with the MD5 of the whole file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideFile {
    pub path: String,
    pub hash: Md5,
}

impl Manifest {
    /// Reads a manifest file.
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        Self::from_reader(xml::open(path)?, Origin::File(path))
    }

    /// Reads a manifest from text (tests, fuzzing).
    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::from_reader(text.as_bytes(), Origin::Text(text))
    }

    fn from_reader(input: impl BufRead, origin: Origin<'_>) -> Result<Self, FormatError> {
        let mut builder = Builder::default();
        xml::walk(input, origin, &mut builder)?;
        let drive_id = builder.drive_id.unwrap_or_default();
        Ok(Manifest {
            version: builder.version,
            drive_id,
            client_creator: builder.client_creator,
            blobs: builder.blobs,
        })
    }
}

impl Manifest {
    /// The manifest as the service writes it (UTF-8, declared element order).
    pub fn to_xml(&self) -> String {
        use std::fmt::Write as _;
        let e = |text: &str| quick_xml::escape::escape(text).into_owned();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = match &self.version {
            Some(version) => writeln!(out, "<DriveManifest Version=\"{}\">", e(version)),
            None => writeln!(out, "<DriveManifest>"),
        };
        out.push_str("  <Drive>\n");
        let _ = writeln!(out, "    <DriveId>{}</DriveId>", e(&self.drive_id));
        if let Some(creator) = &self.client_creator {
            let _ = writeln!(out, "    <ClientCreator>{}</ClientCreator>", e(creator));
        }
        out.push_str("    <BlobList>\n");
        for blob in &self.blobs {
            out.push_str("      <Blob>\n");
            let _ = writeln!(out, "        <BlobPath>{}</BlobPath>", e(&blob.blob_path));
            let _ = writeln!(out, "        <FilePath>{}</FilePath>", e(&blob.file_path));
            if let Some(data) = &blob.client_data {
                let _ = writeln!(out, "        <ClientData>{}</ClientData>", e(data));
            }
            if let Some(snapshot) = &blob.snapshot {
                let _ = writeln!(out, "        <Snapshot>{}</Snapshot>", e(snapshot));
            }
            let _ = writeln!(out, "        <Length>{}</Length>", blob.length);
            let _ = writeln!(out, "        <{}>", blob.kind.list_element());
            for range in &blob.ranges {
                let id = range
                    .id
                    .as_deref()
                    .map(|id| format!(" Id=\"{}\"", e(id)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "          <{} Offset=\"{}\" Length=\"{}\"{id} Hash=\"{}\" />",
                    blob.kind.element(),
                    range.offset,
                    range.length,
                    range.hash
                );
            }
            let _ = writeln!(out, "        </{}>", blob.kind.list_element());
            for (element, side) in [
                ("MetadataPath", &blob.metadata),
                ("PropertiesPath", &blob.properties),
            ] {
                if let Some(side) = side {
                    let _ = writeln!(
                        out,
                        "        <{element} Hash=\"{}\">{}</{element}>",
                        side.hash,
                        e(&side.path)
                    );
                }
            }
            out.push_str("      </Blob>\n");
        }
        out.push_str("    </BlobList>\n  </Drive>\n</DriveManifest>\n");
        out
    }
}

#[derive(Default)]
struct Builder {
    version: Option<String>,
    drive_id: Option<String>,
    client_creator: Option<String>,
    blobs: Vec<ManifestBlob>,
    blob: Option<BlobBuilder>,
    /// FilePath → index of the blob that uses it, to refuse two blobs sharing one file.
    file_paths: HashMap<String, usize>,
    /// The side file element's Hash, waiting for its text.
    side_hash: Option<Md5>,
}

#[derive(Default)]
struct BlobBuilder {
    blob_path: Option<String>,
    file_path: Option<String>,
    client_data: Option<String>,
    snapshot: Option<String>,
    length: Option<u64>,
    kind: Option<RangeKind>,
    ranges: Vec<Range>,
    metadata: Option<SideFile>,
    properties: Option<SideFile>,
}

fn invalid(message: impl Into<String>) -> FormatErrorKind {
    FormatErrorKind::Invalid(message.into())
}

fn hash_attribute(element: &BytesStart<'_>) -> Result<Md5, FormatErrorKind> {
    let value = required_attribute(element, "Hash")?;
    Md5::parse_hex(&value).map_err(|error| invalid(format!("Hash {error}")))
}

impl Handler for Builder {
    fn open(
        &mut self,
        path: &ElementPath,
        element: &BytesStart<'_>,
    ) -> Result<(), FormatErrorKind> {
        let depth = path.depth();
        if depth == 1 {
            if path.current() != "DriveManifest" {
                return Err(FormatErrorKind::WrongRoot {
                    found: shorten(path.current(), 40),
                    expected: "DriveManifest",
                    hint: if path.current() == "DriveLog" {
                        " (this looks like a copy log: pass it with --copy-log)"
                    } else {
                        ""
                    },
                });
            }
            self.version = attribute(element, "Version")?.map(|v| v.trim().to_string());
            return Ok(());
        }
        // Everything of interest lives under DriveManifest/Drive/BlobList/Blob.
        if !(depth >= 4 && path.name_at(1) == Some("Drive") && path.name_at(2) == Some("BlobList"))
        {
            return Ok(());
        }
        if self.blob.is_none() && depth >= 5 {
            if matches!(
                path.current(),
                "BlockList" | "PageRangeList" | "Block" | "PageRange"
            ) {
                return Err(invalid(format!(
                    "<{}> is only allowed inside a <Blob>",
                    path.current()
                )));
            }
            return Ok(());
        }
        match (depth, path.current()) {
            (4, "Blob") => {
                if self.drive_id.is_none() {
                    return Err(invalid("a Blob comes before the drive's DriveId"));
                }
                self.blob = Some(BlobBuilder::default());
            }
            (5, list @ ("BlockList" | "PageRangeList")) => {
                // Only a depth-4 `Blob` opens one; anything else at this depth is not a blob's.
                let Some(blob) = self.blob.as_mut() else {
                    return Ok(());
                };
                let kind = if list == "BlockList" {
                    RangeKind::Block
                } else {
                    RangeKind::Page
                };
                if blob.kind.is_some_and(|existing| existing != kind) {
                    return Err(invalid(
                        "a Blob has both a BlockList and a PageRangeList; it must have one",
                    ));
                }
                blob.kind = Some(kind);
            }
            (6, name @ ("Block" | "PageRange")) if path.parent() == expected_list(name) => {
                let [offset, length, id, hash] =
                    xml::attributes(element, ["Offset", "Length", "Id", "Hash"])?;
                let missing = |name: &str| invalid(format!("the attribute {name} is missing"));
                let offset = parse_u64("Offset", &offset.ok_or_else(|| missing("Offset"))?)?;
                let length = parse_u64("Length", &length.ok_or_else(|| missing("Length"))?)?;
                let id = id
                    .map(|id| id.trim().to_string().into_boxed_str())
                    .filter(|id| !id.is_empty());
                let hash = hash.ok_or_else(|| missing("Hash"))?;
                let hash =
                    Md5::parse_hex(&hash).map_err(|error| invalid(format!("Hash {error}")))?;
                // Only a depth-4 `Blob` opens one; anything else at this depth is not a blob's.
                let Some(blob) = self.blob.as_mut() else {
                    return Ok(());
                };
                blob.ranges.push(Range {
                    offset,
                    length,
                    id,
                    hash,
                });
            }
            (5, "MetadataPath" | "PropertiesPath") => {
                self.side_hash = Some(hash_attribute(element)?);
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
        let depth = path.depth();
        if depth == 3 && path.is(&["DriveManifest", "Drive", "DriveId"]) {
            let id = text.trim();
            if id.is_empty() {
                return Err(invalid("DriveId is empty"));
            }
            return set_once(&mut self.drive_id, id.to_string(), "DriveId");
        }
        if depth == 3 && path.is(&["DriveManifest", "Drive", "ClientCreator"]) {
            self.client_creator = Some(text.trim().to_string());
            return Ok(());
        }
        if depth == 2 && path.is(&["DriveManifest", "Drive"]) && self.drive_id.is_none() {
            return Err(invalid("the Drive has no DriveId"));
        }
        if depth == 1 && self.drive_id.is_none() {
            return Err(invalid("the manifest has no <Drive> with a <DriveId>"));
        }
        if !(depth >= 4 && path.name_at(1) == Some("Drive") && path.name_at(2) == Some("BlobList"))
        {
            return Ok(());
        }
        let Some(blob) = self.blob.as_mut() else {
            return Ok(());
        };
        let value = || text.trim().to_string();
        match (depth, path.current()) {
            (5, "BlobPath") => {
                set_once(
                    &mut blob.blob_path,
                    checked_path("BlobPath", value())?,
                    "BlobPath",
                )?;
            }
            (5, "FilePath") => {
                set_once(
                    &mut blob.file_path,
                    checked_path("FilePath", value())?,
                    "FilePath",
                )?;
            }
            (5, "ClientData") => blob.client_data = Some(text.to_string()),
            (5, "Snapshot") => blob.snapshot = Some(value()).filter(|s| !s.is_empty()),
            (5, "Length") => set_once(&mut blob.length, parse_blob_length(text)?, "Length")?,
            (5, side @ ("MetadataPath" | "PropertiesPath")) => {
                let Some(hash) = self.side_hash.take() else {
                    return Err(invalid(format!("{side} has no Hash")));
                };
                let file = SideFile {
                    path: checked_path(side, value())?,
                    hash,
                };
                if file.path.is_empty() {
                    return Err(invalid(format!("{side} is empty")));
                }
                if side == "MetadataPath" {
                    set_once(&mut blob.metadata, file, side)?;
                } else {
                    set_once(&mut blob.properties, file, side)?;
                }
            }
            (4, "Blob") => {
                let Some(blob) = self.blob.take() else {
                    return Ok(());
                };
                let finished = finish_blob(blob)?;
                let index = self.blobs.len();
                if let Some(first) = self.file_paths.insert(finished.file_path.clone(), index) {
                    return Err(invalid(format!(
                        "FilePath {:?} is also the file of Blob {} ({})",
                        shorten(&finished.file_path, 200),
                        first + 1,
                        shorten(&self.blobs[first].blob_path, 200)
                    )));
                }
                self.blobs.push(finished);
            }
            _ => {}
        }
        Ok(())
    }
}

fn expected_list(range_element: &str) -> &'static str {
    if range_element == "Block" {
        "BlockList"
    } else {
        "PageRangeList"
    }
}

/// Checks one blob's ranges: sorted, non-overlapping, inside the blob.
pub(crate) fn check_ranges(
    kind: RangeKind,
    length: u64,
    ranges: &mut [impl RangeLike],
) -> Result<(), FormatErrorKind> {
    if !ranges.is_sorted_by_key(|r| r.offset()) {
        // The samples are always ordered, but order carries no meaning: sort rather than refuse.
        ranges.sort_by_key(|r| r.offset());
    }
    let mut previous_end = 0u64;
    for (index, range) in ranges.iter().enumerate() {
        let end = range.offset().checked_add(range.length()).ok_or_else(|| {
            invalid(format!(
                "{} at Offset {} with Length {} ends beyond any possible blob",
                kind.element(),
                range.offset(),
                range.length()
            ))
        })?;
        if end > length {
            return Err(invalid(format!(
                "{} at Offset {} with Length {} ends at byte {end}, beyond the blob's Length {length}",
                kind.element(),
                range.offset(),
                range.length()
            )));
        }
        if index > 0 && range.offset() < previous_end {
            return Err(invalid(format!(
                "{} at Offset {} overlaps the previous one, which ends at byte {previous_end}",
                kind.element(),
                range.offset()
            )));
        }
        previous_end = end;
    }
    Ok(())
}

/// A block blob's committed blocks tile it: from byte 0 to its Length with no gap, so that
/// no byte of the file goes unverified. (Page blobs list only the pages holding data.)
fn check_blocks_tile(
    kind: RangeKind,
    length: u64,
    ranges: &[Range],
) -> Result<(), FormatErrorKind> {
    if kind != RangeKind::Block || ranges.is_empty() {
        return Ok(());
    }
    let gap = |from: u64, to: u64| {
        invalid(format!(
            "no Block covers bytes {from}..{to} (the blocks of a block blob cover it from byte 0 \
             to its Length with no gap)"
        ))
    };
    let mut covered = 0u64;
    for range in ranges {
        if range.offset > covered {
            return Err(gap(covered, range.offset));
        }
        covered = range.offset + range.length;
    }
    if covered < length {
        return Err(gap(covered, length));
    }
    Ok(())
}

/// What range checks need of a manifest or copy-log range.
pub(crate) trait RangeLike {
    fn offset(&self) -> u64;
    fn length(&self) -> u64;
}

impl RangeLike for Range {
    fn offset(&self) -> u64 {
        self.offset
    }
    fn length(&self) -> u64 {
        self.length
    }
}

fn finish_blob(blob: BlobBuilder) -> Result<ManifestBlob, FormatErrorKind> {
    let blob_path = blob
        .blob_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid("the Blob has no BlobPath"))?;
    let file_path = blob
        .file_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid(format!("the Blob {blob_path:?} has no FilePath")))?;
    let length = blob
        .length
        .ok_or_else(|| invalid(format!("the Blob {blob_path:?} has no Length")))?;
    // An empty blob may come without a list; a block blob is the natural reading.
    let kind = blob.kind.unwrap_or(RangeKind::Block);
    let mut ranges = blob.ranges;
    check_ranges(kind, length, &mut ranges)
        .and_then(|()| check_blocks_tile(kind, length, &ranges))
        .map_err(|kind_error| match kind_error {
            FormatErrorKind::Invalid(message) => invalid(format!("Blob {blob_path:?}: {message}")),
            other => other,
        })?;
    ranges.shrink_to_fit();
    Ok(ManifestBlob {
        blob_path,
        file_path,
        client_data: blob.client_data,
        snapshot: blob.snapshot,
        length,
        kind,
        ranges,
        metadata: blob.metadata,
        properties: blob.properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// The export manifest of the RepairExport article, as published (lower-case `utf-8`).
    pub(crate) const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<DriveManifest Version="2011-10-01">
  <Drive>
    <DriveId>9WM35C3U</DriveId>
    <ClientCreator>Windows Azure Import/Export service</ClientCreator>
    <BlobList>
      <Blob>
        <BlobPath>pictures/city/redmond.jpg</BlobPath>
        <FilePath>\pictures\city\redmond.jpg</FilePath>
        <Length>15360</Length>
        <PageRangeList>
          <PageRange Offset="0" Length="3584" Hash="72FC55ED9AFDD40A0C8D5C4193208416" />
          <PageRange Offset="3584" Length="3584" Hash="68B28A561B73D1DA769D4C24AA427DB8" />
          <PageRange Offset="7168" Length="512" Hash="F521DF2F50C46BC5F9EA9FB787A23EED" />
        </PageRangeList>
        <PropertiesPath Hash="E72A22EA959566066AD89E3B49020C0A">\pictures\city\redmond.jpg.properties</PropertiesPath>
      </Blob>
      <Blob>
        <BlobPath>pictures/wild/canyon.jpg</BlobPath>
        <FilePath>\pictures\wild\canyon.jpg</FilePath>
        <Length>10884</Length>
        <BlockList>
          <Block Offset="0" Length="2721" Id="AAAAAA==" Hash="263DC9C4B99C2177769C5EBE04787037" />
          <Block Offset="2721" Length="2721" Id="AQAAAA==" Hash="0C52BAE2CC20EFEC15CC1E3045517AA6" />
          <Block Offset="5442" Length="2721" Id="AgAAAA==" Hash="73D1CB62CB426230C34C9F57B7148F10" />
          <Block Offset="8163" Length="2721" Id="AwAAAA==" Hash="11210E665C5F8E7E4F136D053B243E6A" />
        </BlockList>
        <PropertiesPath Hash="81D7F81B2C29F10D6E123D386C3A4D5A">\pictures\wild\canyon.jpg.properties</PropertiesPath>
      </Blob>
    </BlobList>
 </Drive>
</DriveManifest>
"#;

    fn parse_err(text: &str) -> FormatError {
        Manifest::parse_str(text).unwrap_err()
    }

    #[test]
    fn the_sample_manifest_parses_to_the_right_values() {
        let manifest = Manifest::parse_str(SAMPLE).unwrap();
        assert_eq!(manifest.version.as_deref(), Some("2011-10-01"));
        assert_eq!(manifest.drive_id, "9WM35C3U");
        assert_eq!(
            manifest.client_creator.as_deref(),
            Some("Windows Azure Import/Export service")
        );
        assert_eq!(manifest.blobs.len(), 2);
        let redmond = &manifest.blobs[0];
        assert_eq!(redmond.blob_path, "pictures/city/redmond.jpg");
        assert_eq!(redmond.file_path, r"\pictures\city\redmond.jpg");
        assert_eq!(redmond.length, 15360);
        assert_eq!(redmond.kind, RangeKind::Page);
        let spans: Vec<_> = redmond
            .ranges
            .iter()
            .map(|r| (r.offset, r.length))
            .collect();
        assert_eq!(spans, [(0, 3584), (3584, 3584), (7168, 512)]);
        assert_eq!(
            redmond.ranges[2].hash.to_string(),
            "F521DF2F50C46BC5F9EA9FB787A23EED"
        );
        let properties = redmond.properties.as_ref().unwrap();
        assert_eq!(properties.path, r"\pictures\city\redmond.jpg.properties");
        assert_eq!(
            properties.hash.to_string(),
            "E72A22EA959566066AD89E3B49020C0A"
        );
        assert!(redmond.metadata.is_none());

        let canyon = &manifest.blobs[1];
        assert_eq!(canyon.kind, RangeKind::Block);
        assert_eq!(canyon.length, 10884);
        let covered: u64 = canyon.ranges.iter().map(|r| r.length).sum();
        assert_eq!(covered, canyon.length);
        assert_eq!(canyon.ranges[3].offset, 8163);
    }

    #[test]
    fn writes_what_it_reads() {
        let manifest = Manifest::parse_str(SAMPLE).unwrap();
        let again = Manifest::parse_str(&manifest.to_xml()).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn the_sample_block_ids_decode_to_a_counter() {
        let manifest = Manifest::parse_str(SAMPLE).unwrap();
        let counters: Vec<u32> = manifest.blobs[1]
            .ranges
            .iter()
            .map(|range| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(range.id.as_deref().unwrap())
                    .unwrap();
                u32::from_le_bytes(bytes.try_into().unwrap())
            })
            .collect();
        assert_eq!(counters, [0, 1, 2, 3]);
    }

    #[test]
    fn tolerates_what_the_samples_do() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<DriveManifest><Drive>
  <DriveId> D1 </DriveId>
  <StorageAccountKey>c2VjcmV0</StorageAccountKey>
  <BlobList Id="session#1-0">
    <MetadataPath Hash="00000000000000000000000000000000">\list.meta</MetadataPath>
    <Blob>
      <Length>4</Length>
      <FilePath>\c\a b ü.bin</FilePath>
      <BlobPath>c/a b ü.bin</BlobPath>
      <ImportDisposition>overwrite</ImportDisposition>
      <BlockList><Block Offset="0" Length="4" Hash=" 8d777f385d3dfec8815d20f7496026dc" /></BlockList>
    </Blob>
    <Blob><BlobPath>c/empty</BlobPath><FilePath>\c\empty</FilePath><Length>0</Length><BlockList/></Blob>
    <Blob><BlobPath>c/none</BlobPath><FilePath>\c\none</FilePath><Length>0</Length></Blob>
  </BlobList>
</Drive></DriveManifest>"#;
        let manifest = Manifest::parse_str(text).unwrap();
        assert_eq!(manifest.version, None);
        assert_eq!(manifest.drive_id, "D1");
        assert_eq!(manifest.blobs.len(), 3);
        assert_eq!(manifest.blobs[0].file_path, r"\c\a b ü.bin");
        assert_eq!(
            manifest.blobs[0].ranges[0].hash,
            Md5::of(b"data"),
            "padded lower-case hash"
        );
        assert!(manifest.blobs[1].ranges.is_empty());
        assert!(
            !format!("{manifest:?}").contains("c2VjcmV0"),
            "key not kept"
        );
    }

    #[test]
    fn sorts_unordered_ranges() {
        let text = SAMPLE.replace(
            r#"<Block Offset="0" Length="2721" Id="AAAAAA==" Hash="263DC9C4B99C2177769C5EBE04787037" />"#,
            "",
        );
        let text = text.replace(
            "</BlockList>",
            r#"<Block Offset="0" Length="2721" Id="AAAAAA==" Hash="263DC9C4B99C2177769C5EBE04787037" /></BlockList>"#,
        );
        let manifest = Manifest::parse_str(&text).unwrap();
        assert_eq!(manifest.blobs[1].ranges[0].offset, 0);
    }

    #[test]
    fn errors_name_the_element_and_line() {
        let text = SAMPLE.replace(r#"Offset="5442""#, r#"Offset="54x2""#);
        let error = parse_err(&text);
        let message = error.to_string();
        assert_eq!(error.line, 25, "{message}");
        assert!(message.contains("Blob[2]/BlockList/Block[3]"), "{message}");
        assert!(
            message.contains(r#"Offset "54x2" is not a whole non-negative number"#),
            "{message}"
        );
    }

    #[test]
    fn refuses_overlapping_and_out_of_length_ranges_and_bad_hashes() {
        let overlap = SAMPLE.replace(
            r#"Offset="3584" Length="3584""#,
            r#"Offset="3000" Length="3584""#,
        );
        assert!(parse_err(&overlap).to_string().contains("overlaps"));
        let beyond = SAMPLE.replace("<Length>10884</Length>", "<Length>10000</Length>");
        assert!(
            parse_err(&beyond)
                .to_string()
                .contains("beyond the blob's Length 10000")
        );
        let bad_hash = SAMPLE.replace(
            "F521DF2F50C46BC5F9EA9FB787A23EED",
            "F521DF2F50C46BC5F9EA9FB787A23EEZ",
        );
        assert!(parse_err(&bad_hash).to_string().contains("is not an MD5"));
        let huge = SAMPLE.replace(r#"Offset="7168""#, r#"Offset="99999999999999999999999""#);
        assert!(parse_err(&huge).to_string().contains("too large"));
    }

    #[test]
    fn refuses_wrong_root_and_missing_parts() {
        let error = parse_err("<DriveLog><DriveId>x</DriveId></DriveLog>");
        assert!(error.to_string().contains("copy log"), "{error}");
        let no_path = SAMPLE.replace("<FilePath>\\pictures\\wild\\canyon.jpg</FilePath>", "");
        assert!(parse_err(&no_path).to_string().contains("has no FilePath"));
        let no_id = SAMPLE.replace("<DriveId>9WM35C3U</DriveId>", "");
        assert!(
            parse_err(&no_id)
                .to_string()
                .contains("before the drive's DriveId")
        );
        let shared = SAMPLE.replace(
            r"\pictures\wild\canyon.jpg<",
            r"\pictures\city\redmond.jpg<",
        );
        assert!(
            parse_err(&shared)
                .to_string()
                .contains("is also the file of Blob 1")
        );
    }

    #[test]
    fn a_block_list_with_a_gap_or_a_short_end_is_malformed() {
        let blob = |blocks: &str, length: u64| {
            format!(
                r#"<DriveManifest><Drive><DriveId>D</DriveId><BlobList><Blob><BlobPath>c/a</BlobPath>
<FilePath>\c\a</FilePath><Length>{length}</Length><BlockList>{blocks}</BlockList></Blob>
</BlobList></Drive></DriveManifest>"#
            )
        };
        let block = |offset: u64, length: u64| {
            format!(
                r#"<Block Offset="{offset}" Length="{length}" Hash="00000000000000000000000000000000"/>"#
            )
        };
        let gap = blob(&(block(0, 4) + &block(6, 4)), 10);
        let error = Manifest::parse_str(&gap).unwrap_err().to_string();
        assert!(error.contains("no Block covers bytes 4..6"), "{error}");
        let short = blob(&block(0, 4), 10);
        let error = Manifest::parse_str(&short).unwrap_err().to_string();
        assert!(error.contains("no Block covers bytes 4..10"), "{error}");
        let late = blob(&block(2, 8), 10);
        assert!(Manifest::parse_str(&late).is_err());
        assert!(Manifest::parse_str(&blob(&(block(0, 4) + &block(4, 6)), 10)).is_ok());
        assert!(
            Manifest::parse_str(&blob("", 10)).is_ok(),
            "no named blocks at all"
        );
    }
}
