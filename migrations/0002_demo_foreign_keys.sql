-- Foreign keys are added after the bulk load (checking them row by row during COPY is slow).
-- Note that PostgreSQL does not index the referencing columns: that is part of the demo.

ALTER TABLE agents           ADD CONSTRAINT agents_carrier_id_fkey           FOREIGN KEY (carrier_id) REFERENCES carriers (id);
ALTER TABLE lead_assignments ADD CONSTRAINT lead_assignments_lead_id_fkey    FOREIGN KEY (lead_id)    REFERENCES leads (id);
ALTER TABLE lead_assignments ADD CONSTRAINT lead_assignments_agent_id_fkey   FOREIGN KEY (agent_id)   REFERENCES agents (id);
