//! A read-only, bounds-checked Windows registry hive (regf) reader.
//!
//! Written here rather than taken from a crate: `nt-hive` 0.3 (the closest fit)
//! is GPL-2.0-or-later, which this Apache-2.0 project cannot link, and `notatin`
//! pulls in a spreadsheet writer (libxlsxwriter, C), a terminal UI and a CLI
//! parser. Format reference: M. Suhanov, "Windows registry file format
//! specification"; limits follow hivex (`lib/hivex-internal.h`).
//!
//! Hostile input: every cell access is checked to lie inside one hive bin
//! ([`bins::Bins::cell`]); counts are checked against the cell holding them;
//! subkeys and values per key, value sizes, `ri` nesting and key depth are
//! capped; loops in index lists and in the key tree are errors. Dirty hives
//! (transaction logs not replayed) are read as they are, and say so
//! ([`BaseBlock::is_dirty`]).

pub mod base_block;
pub mod big_data;
pub mod bins;
pub mod key_node;
pub mod key_value;
pub mod names;
pub mod subkey_list;
pub mod value_data;

pub use base_block::BaseBlock;
pub use value_data::RegData;

use crate::{Error, Result};
use base_block::BASE_BLOCK_SIZE;
use bins::Bins;
use key_node::KeyNode;
use key_value::KeyValue;
use names::names_equal;

/// Subkeys read from one key (hivex: 70000; its users raised it for big
/// `SOFTWARE\Classes` keys, so we allow more — the list cells bound it anyway).
pub const MAX_SUBKEYS: usize = 700_000;
/// Values read from one key (hivex: 110000).
pub const MAX_VALUES: usize = 1_100_000;
/// Largest value data we read (hivex `HIVEX_MAX_VALUE_LEN`).
pub const MAX_VALUE_LEN: usize = 8_000_000;
/// Deepest key path (Windows' own limit is 512 levels).
pub const MAX_KEY_DEPTH: usize = 512;
/// Largest hive file we load into memory (real `SOFTWARE` hives are tens of MiB,
/// rarely a few hundred).
pub const MAX_HIVE_SIZE: u64 = 512 << 20;

/// A loaded hive.
#[derive(Debug, Clone)]
pub struct Hive {
    data: Vec<u8>,
    base: BaseBlock,
    bins: Bins,
}

/// One key of a hive.
#[derive(Debug, Clone)]
pub struct Key<'h> {
    hive: &'h Hive,
    offset: u32,
    nk: KeyNode,
}

/// One value of a key.
#[derive(Debug, Clone)]
pub struct Value<'h> {
    hive: &'h Hive,
    offset: u32,
    vk: KeyValue,
}

impl Hive {
    /// Parse the base block and index the hive bins of a whole hive file.
    pub fn new(data: Vec<u8>) -> Result<Hive> {
        let base = base_block::parse(&data)?;
        let bins = Bins::scan(&data, base.hive_bins_size)?;
        let hive = Hive { data, base, bins };
        hive.root()?;
        Ok(hive)
    }

    /// The base block.
    pub fn base_block(&self) -> &BaseBlock {
        &self.base
    }

    /// Whether the bins stop before the size the base block claims (a truncated
    /// or partly written file).
    pub fn is_truncated(&self) -> bool {
        self.bins.truncated
    }

    /// File offset of a cell offset (for error messages).
    pub fn file_offset(&self, cell_off: u32) -> u64 {
        BASE_BLOCK_SIZE as u64 + u64::from(cell_off)
    }

    /// The data of the allocated cell at `off`, bounds-checked.
    pub fn cell(&self, off: u32, structure: &'static str) -> Result<&[u8]> {
        self.bins.cell(&self.data, off, structure)
    }

    /// The key whose `nk` cell is at `off`.
    pub fn key_at(&self, off: u32) -> Result<Key<'_>> {
        let cell = self.cell(off, "nk (key node)")?;
        let nk = key_node::parse(cell, self.file_offset(off))?;
        Ok(Key {
            hive: self,
            offset: off,
            nk,
        })
    }

    /// The root key.
    pub fn root(&self) -> Result<Key<'_>> {
        self.key_at(self.base.root_cell_offset)
    }

    /// The key at `path` below the root (`\`- or `/`-separated, case-insensitive;
    /// empty: the root), `None` when a component does not exist.
    pub fn open_key(&self, path: &str) -> Result<Option<Key<'_>>> {
        let mut key = self.root()?;
        for (depth, comp) in path
            .split(['\\', '/'])
            .filter(|c| !c.is_empty())
            .enumerate()
        {
            if depth >= MAX_KEY_DEPTH {
                return Err(Error::Limit {
                    what: format!("registry key path depth of {path:?}"),
                    limit: MAX_KEY_DEPTH as u64,
                });
            }
            match key.subkey(comp)? {
                Some(k) => key = k,
                None => return Ok(None),
            }
        }
        Ok(Some(key))
    }

    /// Visit every key depth first (at most `max_keys`, at most [`MAX_KEY_DEPTH`]
    /// deep), with its path below the root. A key that is its own ancestor is a
    /// [`Error::Corrupt`] loop. Returns the number of keys visited.
    pub fn walk(
        &self,
        max_keys: usize,
        visit: &mut dyn FnMut(&str, &Key<'_>) -> Result<()>,
    ) -> Result<usize> {
        let root = self.root()?;
        let mut ancestors = Vec::new();
        let mut count = 0;
        self.walk_from(
            &root,
            String::new(),
            &mut ancestors,
            max_keys,
            &mut count,
            visit,
        )?;
        Ok(count)
    }

    fn walk_from(
        &self,
        key: &Key<'_>,
        path: String,
        ancestors: &mut Vec<u32>,
        max_keys: usize,
        count: &mut usize,
        visit: &mut dyn FnMut(&str, &Key<'_>) -> Result<()>,
    ) -> Result<()> {
        if ancestors.contains(&key.offset) {
            return Err(Error::corrupt(
                "nk (key node)",
                self.file_offset(key.offset),
                format!("key {path:?} is its own ancestor (a loop in the key tree)"),
            ));
        }
        if ancestors.len() >= MAX_KEY_DEPTH {
            return Err(Error::Limit {
                what: format!("registry key depth at {path:?}"),
                limit: MAX_KEY_DEPTH as u64,
            });
        }
        if *count >= max_keys {
            return Err(Error::Limit {
                what: "registry keys walked".into(),
                limit: max_keys as u64,
            });
        }
        *count += 1;
        visit(&path, key)?;
        ancestors.push(key.offset);
        for sub in key.subkeys()? {
            let sub_path = if path.is_empty() {
                sub.name().to_string()
            } else {
                format!("{path}\\{}", sub.name())
            };
            self.walk_from(&sub, sub_path, ancestors, max_keys, count, visit)?;
        }
        ancestors.pop();
        Ok(())
    }
}

impl<'h> Key<'h> {
    /// The key's name as stored.
    pub fn name(&self) -> &str {
        &self.nk.name
    }

    /// Cell offset of the key node.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// Number of subkeys the key node claims.
    pub fn subkey_count(&self) -> u32 {
        self.nk.subkey_count
    }

    /// Number of values the key node claims.
    pub fn value_count(&self) -> u32 {
        self.nk.value_count
    }

    /// All subkeys, in stored (sorted) order.
    pub fn subkeys(&self) -> Result<Vec<Key<'h>>> {
        self.subkey_offsets()?
            .into_iter()
            .map(|off| self.child(off))
            .collect()
    }

    fn subkey_offsets(&self) -> Result<Vec<u32>> {
        let mut offs = Vec::new();
        if self.nk.subkey_count == 0 || self.nk.subkeys_list == u32::MAX {
            return Ok(offs);
        }
        if self.nk.subkey_count as usize > MAX_SUBKEYS {
            return Err(Error::Limit {
                what: format!("subkeys of {:?}", self.nk.name),
                limit: MAX_SUBKEYS as u64,
            });
        }
        subkey_list::collect(self.hive, self.nk.subkeys_list, MAX_SUBKEYS, &mut offs)?;
        Ok(offs)
    }

    fn child(&self, off: u32) -> Result<Key<'h>> {
        if off == self.offset {
            return Err(Error::corrupt(
                "subkeys list",
                self.hive.file_offset(off),
                format!("key {:?} lists itself as a subkey", self.nk.name),
            ));
        }
        self.hive.key_at(off)
    }

    /// The subkey called `name` (case-insensitive).
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'h>>> {
        for off in self.subkey_offsets()? {
            let k = self.child(off)?;
            if names_equal(k.name(), name) {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// All values.
    pub fn values(&self) -> Result<Vec<Value<'h>>> {
        if self.nk.value_count == 0 || self.nk.values_list == u32::MAX {
            return Ok(Vec::new());
        }
        if self.nk.value_count as usize > MAX_VALUES {
            return Err(Error::Limit {
                what: format!("values of {:?}", self.nk.name),
                limit: MAX_VALUES as u64,
            });
        }
        key_value::list(self.hive, self.nk.values_list, self.nk.value_count)?
            .into_iter()
            .map(|off| {
                let cell = self.hive.cell(off, "vk (key value)")?;
                let vk = key_value::parse(cell, self.hive.file_offset(off))?;
                Ok(Value {
                    hive: self.hive,
                    offset: off,
                    vk,
                })
            })
            .collect()
    }

    /// The value called `name` (case-insensitive; `""` is the default value).
    pub fn value(&self, name: &str) -> Result<Option<Value<'h>>> {
        Ok(self
            .values()?
            .into_iter()
            .find(|v| names_equal(v.name(), name)))
    }

    /// The decoded data of value `name`, if there is one.
    pub fn value_data(&self, name: &str) -> Result<Option<RegData>> {
        self.value(name)?.map(|v| v.data()).transpose()
    }
}

impl Value<'_> {
    /// The value's name (`""`: the key's default value).
    pub fn name(&self) -> &str {
        &self.vk.name
    }

    /// The `REG_*` type.
    pub fn data_type(&self) -> u32 {
        self.vk.data_type
    }

    /// Length of the data in bytes.
    pub fn data_len(&self) -> u32 {
        self.vk.data_len
    }

    /// The raw data bytes (at most [`MAX_VALUE_LEN`]).
    pub fn raw_data(&self) -> Result<Vec<u8>> {
        key_value::data(
            self.hive,
            &self.vk,
            self.hive.file_offset(self.offset),
            MAX_VALUE_LEN,
        )
    }

    /// The data decoded by type.
    pub fn data(&self) -> Result<RegData> {
        Ok(value_data::decode(self.vk.data_type, self.raw_data()?))
    }
}
