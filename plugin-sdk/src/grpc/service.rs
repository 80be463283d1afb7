//! `PluginService` served from a [`Module`].

use std::sync::Arc;
use std::time::Duration;

use proto::flowbot::plugin as pb;
use proto::flowbot::plugin::plugin_service_server::PluginService;
use tonic::{Request, Response, Status};

use super::broker::Broker;
use super::host;
use super::module::{Module, ModuleError};

/// How long `Init` waits for the host's broker announcement.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct ModuleService<M> {
    module: Arc<M>,
    broker: Broker,
    /// The bound on messages to and from the host's callbacks.
    max_message_size: usize,
}

impl<M> ModuleService<M> {
    pub(crate) fn new(module: Arc<M>, broker: Broker, max_message_size: usize) -> Self {
        Self {
            module,
            broker,
            max_message_size,
        }
    }
}

/// A JSON text field as a value of its type; `""` and `null` are the
/// type's default.
fn value<T: serde::de::DeserializeOwned + Default>(field: &str, text: &str) -> Result<T, Status> {
    if matches!(text.trim(), "" | "null") {
        return Ok(T::default());
    }
    serde_json::from_str(text)
        .map_err(|e| Status::invalid_argument(format!("{field} does not fit: {e}")))
}

/// A result as (JSON text, error text) for responses with an `error` field;
/// `Unsupported` is an `UNIMPLEMENTED` status.
fn split<T: serde::Serialize>(result: Result<T, ModuleError>) -> Result<(String, String), Status> {
    match result {
        Ok(value) => serde_json::to_string(&value)
            .map(|text| (text, String::new()))
            .map_err(|e| Status::internal(format!("the result does not serialise: {e}"))),
        Err(ModuleError::Unsupported) => Err(Status::unimplemented("unsupported by plugin")),
        Err(ModuleError::Failed(message)) => Ok((String::new(), message)),
    }
}

/// A result for responses without an `error` field.
fn status(result: Result<(), ModuleError>) -> Result<Response<()>, Status> {
    match result {
        Ok(()) => Ok(Response::new(())),
        Err(ModuleError::Unsupported) => Err(Status::unimplemented("unsupported by plugin")),
        Err(ModuleError::Failed(message)) => Err(Status::failed_precondition(message)),
    }
}

#[tonic::async_trait]
impl<M: Module> PluginService for ModuleService<M> {
    async fn init(
        &self,
        request: Request<pb::InitRequest>,
    ) -> Result<Response<pb::InitResponse>, Status> {
        let request = request.into_inner();
        if request.broker_id != 0 {
            let channel = self
                .broker
                .dial(request.broker_id, DIAL_TIMEOUT)
                .await
                .map_err(Status::unavailable)?;
            host::install(channel, self.max_message_size);
        }
        let config = value("config", &request.config)?;
        status(self.module.init(config).await)?;
        Ok(Response::new(pb::InitResponse {}))
    }

    async fn bootstrap(&self, _: Request<()>) -> Result<Response<()>, Status> {
        status(self.module.bootstrap().await)
    }

    async fn command(
        &self,
        request: Request<pb::CommandRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .module
            .command(value("context", &r.context)?, value("content", &r.content)?)
            .await;
        let (payload, error) = split(result)?;
        Ok(Response::new(pb::CommandResponse { payload, error }))
    }

    async fn form(
        &self,
        request: Request<pb::FormRequest>,
    ) -> Result<Response<pb::FormResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .module
            .form(value("context", &r.context)?, r.values)
            .await;
        let (payload, error) = split(result)?;
        Ok(Response::new(pb::FormResponse { payload, error }))
    }

    async fn input(
        &self,
        request: Request<pb::InputRequest>,
    ) -> Result<Response<pb::InputResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .module
            .input(
                value("context", &r.context)?,
                value("head", &r.head)?,
                value("content", &r.content)?,
            )
            .await;
        let (payload, error) = split(result)?;
        Ok(Response::new(pb::InputResponse { payload, error }))
    }

    async fn rules(&self, _: Request<()>) -> Result<Response<pb::RulesResponse>, Status> {
        let (rules, error) = split(self.module.rules().await)?;
        Ok(Response::new(pb::RulesResponse { rules, error }))
    }

    async fn help(&self, _: Request<()>) -> Result<Response<pb::HelpResponse>, Status> {
        let (help, error) = split(self.module.help().await)?;
        Ok(Response::new(pb::HelpResponse { help, error }))
    }

    async fn is_ready(&self, _: Request<()>) -> Result<Response<pb::IsReadyResponse>, Status> {
        let ready = self.module.is_ready().await;
        Ok(Response::new(pb::IsReadyResponse { ready }))
    }

    async fn ability_call(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .module
            .ability_call(&r.operation, value("params", &r.params)?)
            .await;
        let (result, error) = split(result)?;
        Ok(Response::new(pb::CallResponse { result, error }))
    }

    async fn webhook_convert(
        &self,
        request: Request<pb::WebhookConvertRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let result = self
            .module
            .webhook_convert(request.into_inner().payload)
            .await;
        let (result, error) = split(result)?;
        Ok(Response::new(pb::CallResponse { result, error }))
    }

    async fn o_auth_callback(
        &self,
        request: Request<pb::OAuthCallbackRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = request.into_inner();
        let (result, error) = split(self.module.oauth_callback(&r.state, &r.code).await)?;
        Ok(Response::new(pb::CallResponse { result, error }))
    }

    async fn call(
        &self,
        request: Request<pb::FunctionCallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .module
            .call(&r.function, value("params", &r.params)?)
            .await;
        let (result, error) = split(result)?;
        Ok(Response::new(pb::CallResponse { result, error }))
    }

    async fn o_auth_authorize(
        &self,
        request: Request<pb::OAuthAuthorizeRequest>,
    ) -> Result<Response<pb::OAuthAuthorizeResponse>, Status> {
        let response = match self
            .module
            .oauth_authorize(&request.into_inner().state)
            .await
        {
            Ok(url) => pb::OAuthAuthorizeResponse {
                url,
                error: String::new(),
            },
            Err(ModuleError::Unsupported) => {
                return Err(Status::unimplemented("unsupported by plugin"));
            }
            Err(ModuleError::Failed(error)) => pb::OAuthAuthorizeResponse {
                url: String::new(),
                error,
            },
        };
        Ok(Response::new(response))
    }
}
