//! One turn of a call's transcript.

use sea_orm::entity::prelude::*;

/// One turn of a call's transcript.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_turns")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The call.
    pub call_log_id: i32,
    /// Order within the call; unique per call.
    pub seq: i32,
    /// caller, agent or system (checked).
    pub speaker: String,
    /// What was said (for the agent: what it meant to say).
    pub text: String,
    /// For agent turns: what the caller actually heard, cut at a barge-in.
    pub heard_text: Option<String>,
    /// When the turn began.
    pub started_at: DateTimeUtc,
    /// End of speech to final transcript.
    pub stt_ms: Option<i32>,
    /// LLM time to first token.
    pub llm_first_token_ms: Option<i32>,
    /// TTS time to first byte.
    pub tts_first_byte_ms: Option<i32>,
}

/// Relations are added as the CRM queries need them.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
