"""The `codex` stage kind: the Codex agent run by a pipeline stage, under our policy (docs/codex.md).

`locate` finds the program (trusted layers only), `invocation` spells our policy in
Codex's flags, `translate` turns Codex's JSONL events into ours, `schema` checks an
`outputSchema` and the final message, and `stage` runs one stage.
"""
