//! Results as bytes, to cross process boundaries: little-endian, exact
//! (an `f64` arrives with the bits it left with).

/// A member's result that can be sent to the other ranks.
pub trait Payload: Sized {
    /// Appends `self`'s bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The value `bytes` encode, or `None` if they are not one.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl Payload for Vec<f64> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(8 * self.len());
        for x in self {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() % 8 != 0 {
            return None;
        }
        Some(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }
}

impl Payload for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(f64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl Payload for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl Payload for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.is_empty().then_some(())
    }
}

/// A pair: the first part's length (8 bytes), then both.
impl<A: Payload, B: Payload> Payload for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        self.0.encode(out);
        let len = (out.len() - at - 8) as u64;
        out[at..at + 8].copy_from_slice(&len.to_le_bytes());
        self.1.encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
        let rest = &bytes[8..];
        if len > rest.len() {
            return None;
        }
        Some((A::decode(&rest[..len])?, B::decode(&rest[len..])?))
    }
}
