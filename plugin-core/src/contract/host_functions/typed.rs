//! [`Typed`]: a host function from a closure over serde types.

use std::marker::PhantomData;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{HostCallContext, HostFunction};
use crate::host::HostError;

/// A [`HostFunction`] made of a closure `|cx, input: In| async { Ok(out) }`:
/// the input is read as `In` (a mismatch fails "invalid request", naming
/// what is wrong), the answer written from `Out`.
pub struct Typed<In, Out, F> {
    f: F,
    types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, F> Typed<In, Out, F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self {
            f,
            types: PhantomData,
        }
    }
}

#[async_trait]
impl<In, Out, F, Fut> HostFunction for Typed<In, Out, F>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    F: Fn(HostCallContext, In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Out, HostError>> + Send + 'static,
{
    async fn call(
        &self,
        cx: &HostCallContext,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError> {
        let input: In = serde_json::from_str(input.get())
            .map_err(|e| HostError::InvalidRequest(format!("input: {e}")))?;
        let output = (self.f)(cx.clone(), input).await?;
        serde_json::value::to_raw_value(&output)
            .map_err(|e| HostError::Failed(format!("answer: {e}").into()))
    }
}
