//! The AMF0 value model and accessors.

/// One AMF0 value.
///
/// Properties of objects are kept as an ordered `Vec` rather than a map:
/// order is significant on the wire (some peers compare encoded bytes), keys
/// may repeat, and command objects are small enough that a linear
/// [`Value::get`] is cheaper than hashing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A double; AMF0 has no integer type.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A string. Encoded with a 16-bit length, or as a long string when it
    /// does not fit.
    String(String),
    /// An anonymous object.
    Object(Vec<(String, Value)>),
    /// Null; commands use it for "no command object".
    Null,
    /// Undefined.
    Undefined,
    /// Index of an earlier complex value. Kept as is: resolving it would
    /// let a small input expand into a large tree.
    Reference(u16),
    /// Associative array, e.g. the body of `onMetaData`.
    EcmaArray(Vec<(String, Value)>),
    /// Dense array.
    StrictArray(Vec<Value>),
    /// A date.
    Date {
        /// Milliseconds since the Unix epoch, UTC.
        millis: f64,
        /// Time zone offset; the spec says senders should write 0 and
        /// readers ignore it, we keep it for exact round trips.
        tz: i16,
    },
    /// A string that was sent with a 32-bit length.
    LongString(String),
    /// The sender could not serialize a value.
    Unsupported,
    /// An XML document, as text.
    XmlDocument(String),
    /// An object with a registered class name.
    TypedObject {
        /// Class name.
        class: String,
        /// Properties in wire order.
        props: Vec<(String, Value)>,
    },
    /// A value sent in AMF3 after the avmplus switch marker.
    Avmplus(Amf3Value),
}

/// The AMF3 values that can follow an avmplus marker in a command.
///
/// Only scalars: that is all Flash-era clients put in commands, and a
/// complete AMF3 implementation (reference tables, traits, externalizable
/// objects) would be a large attack surface for no user.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf3Value {
    /// Undefined.
    Undefined,
    /// Null.
    Null,
    /// `false` or `true` (two distinct AMF3 markers).
    Boolean(bool),
    /// A 29-bit signed integer.
    Integer(i32),
    /// A double.
    Double(f64),
    /// An inline string.
    String(String),
}

impl Value {
    /// Builds a [`Value::Object`] from `(key, value)` pairs, so that command
    /// objects read like the JSON-ish literals in protocol docs.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds a [`Value::EcmaArray`] from `(key, value)` pairs.
    pub fn ecma_array<K: Into<String>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::EcmaArray(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The text of any string-like value (string, long string, XML, AMF3
    /// string), so that callers need not care which one a peer chose.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) | Value::XmlDocument(s) => Some(s),
            Value::Avmplus(Amf3Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The numeric value of a number, including AMF3 integers and doubles.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) | Value::Avmplus(Amf3Value::Double(n)) => Some(*n),
            Value::Avmplus(Amf3Value::Integer(i)) => Some(f64::from(*i)),
            _ => None,
        }
    }

    /// The value of a boolean, AMF0 or AMF3.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) | Value::Avmplus(Amf3Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is null or undefined, in either encoding: commands use
    /// both interchangeably for "nothing here".
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(
            self,
            Value::Null
                | Value::Undefined
                | Value::Avmplus(Amf3Value::Null)
                | Value::Avmplus(Amf3Value::Undefined)
        )
    }

    /// The properties of an object, ECMA array or typed object.
    pub fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => Some(p),
            Value::TypedObject { props, .. } => Some(props),
            _ => None,
        }
    }

    /// The first property named `key` of an object, ECMA array or typed
    /// object; `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_look_through_encodings() {
        assert_eq!(Value::from("a").as_str(), Some("a"));
        assert_eq!(Value::LongString("b".into()).as_str(), Some("b"));
        assert_eq!(
            Value::Avmplus(Amf3Value::String("c".into())).as_str(),
            Some("c")
        );
        assert_eq!(Value::Number(1.5).as_number(), Some(1.5));
        assert_eq!(
            Value::Avmplus(Amf3Value::Integer(-3)).as_number(),
            Some(-3.0)
        );
        assert_eq!(Value::Null.as_number(), None);
        assert_eq!(
            Value::Avmplus(Amf3Value::Boolean(true)).as_bool(),
            Some(true)
        );
        assert!(Value::Avmplus(Amf3Value::Undefined).is_null_or_undefined());
        assert!(!Value::Number(0.0).is_null_or_undefined());
    }

    #[test]
    fn get_finds_first_property() {
        let o = Value::object([("app", "live".into()), ("app", "other".into())]);
        assert_eq!(o.get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(o.get("missing"), None);
        let e = Value::ecma_array([("width", Value::Number(1280.0))]);
        assert_eq!(e.get("width").and_then(Value::as_number), Some(1280.0));
        assert_eq!(Value::Null.get("x"), None);
    }
}
