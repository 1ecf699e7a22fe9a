//! The parameters of a generated testcase, in one shared buffer.
//!
//! A parametrization of a million cases would otherwise hold a vector and four strings per
//! case (about 250 bytes for two parameters); here a case holds one small allocation, shared
//! by the plan's description of the case, the selection and the report node. On the wire it
//! is what it always was: `[[name, value], …]`.

use std::fmt::Write;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parameter names and values (rendered with `Debug`) in signature order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Parameters {
    /// Each name and value as `<byte length>:<text>`, one after the other; `None` when empty.
    encoded: Option<Arc<str>>,
}

impl Parameters {
    /// Parameters from `(name, value)` pairs.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut encoded = String::new();
        for (name, value) in pairs {
            for text in [name.as_ref(), value.as_ref()] {
                let _ = write!(encoded, "{}:", text.len());
                encoded.push_str(text);
            }
        }
        Parameters {
            encoded: (!encoded.is_empty()).then(|| encoded.into()),
        }
    }

    /// Parameters from names and values rendered with `Debug`, written straight into the
    /// shared buffer (what `#[testcase(parameters…)]` builds for each case).
    pub fn from_debug(pairs: &[(&str, &dyn std::fmt::Debug)]) -> Self {
        if pairs.is_empty() {
            return Parameters::default();
        }
        let mut encoded = String::new();
        let mut value = String::new();
        for (name, debug) in pairs {
            value.clear();
            let _ = write!(value, "{debug:?}");
            for text in [*name, value.as_str()] {
                let _ = write!(encoded, "{}:", text.len());
                encoded.push_str(text);
            }
        }
        Parameters {
            encoded: Some(encoded.into()),
        }
    }

    /// The `(name, value)` pairs in order.
    pub fn iter(&self) -> ParameterIter<'_> {
        ParameterIter {
            rest: self.encoded.as_deref().unwrap_or_default(),
        }
    }

    /// The `index`th pair.
    pub fn get(&self, index: usize) -> Option<(&str, &str)> {
        self.iter().nth(index)
    }

    /// True when there are none (the testcase is not parametrized).
    pub fn is_empty(&self) -> bool {
        self.encoded.is_none()
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

/// The pairs of [`Parameters`], in order.
#[derive(Debug, Clone)]
pub struct ParameterIter<'a> {
    rest: &'a str,
}

impl<'a> ParameterIter<'a> {
    fn text(&mut self) -> Option<&'a str> {
        let (length, rest) = self.rest.split_once(':')?;
        let length: usize = length.parse().ok()?;
        let text = rest.get(..length)?;
        self.rest = &rest[length..];
        Some(text)
    }
}

impl<'a> Iterator for ParameterIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.text()?, self.text()?))
    }
}

impl<'a> IntoIterator for &'a Parameters {
    type Item = (&'a str, &'a str);
    type IntoIter = ParameterIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<(String, String)>> for Parameters {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Parameters::new(pairs)
    }
}

impl std::fmt::Debug for Parameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<(String, String)>::deserialize(deserializer).map(Parameters::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_survive_any_text_and_the_wire_format_is_a_list_of_pairs() {
        let pairs = vec![
            ("a".to_string(), "1".to_string()),
            ("text".to_string(), "\"3:x:\"".to_string()),
            ("empty".to_string(), String::new()),
            ("ünï".to_string(), "ćödé".to_string()),
        ];
        let parameters = Parameters::from(pairs.clone());
        let back: Vec<(String, String)> = parameters
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        assert_eq!(back, pairs);
        assert_eq!(parameters.len(), 4);
        assert_eq!(parameters.get(1), Some(("text", "\"3:x:\"")));
        let json = serde_json::to_string(&parameters).unwrap();
        assert_eq!(json, serde_json::to_string(&pairs).unwrap());
        assert_eq!(
            serde_json::from_str::<Parameters>(&json).unwrap(),
            parameters
        );
        let rendered = Parameters::from_debug(&[("a", &1), ("text", &"3:x:"), ("ünï", &'ć')]);
        assert_eq!(
            rendered.iter().collect::<Vec<_>>(),
            [("a", "1"), ("text", "\"3:x:\""), ("ünï", "'ć'")]
        );
        assert!(Parameters::from_debug(&[]).is_empty());
        assert!(Parameters::default().is_empty());
        assert_eq!(serde_json::to_string(&Parameters::default()).unwrap(), "[]");
    }
}
