-- Comments an agent drafted and a person approved (approved support.sendReply / task.comment): the approver is the
-- author; the agent and the approval are recorded here.
ALTER TABLE comments
  ADD COLUMN drafted_by_agent_id uuid,
  ADD COLUMN drafted_by_approval_id uuid;
