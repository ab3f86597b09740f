ALTER TABLE "tasks" ADD COLUMN "offer_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "offer_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "cancel_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "discarded_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "tasks_status_offer_expires_at_index" ON "tasks" USING btree ("status","offer_expires_at");--> statement-breakpoint
CREATE INDEX "tasks_status_not_before_index" ON "tasks" USING btree ("status","not_before");--> statement-breakpoint
CREATE INDEX "tasks_claim_idx" ON "tasks" USING btree ("tenant_id","robot_id","priority" DESC NULLS LAST,"created_at") WHERE "tasks"."status" = 'queued';--> statement-breakpoint
CREATE INDEX "tasks_tenant_id_created_at_id_index" ON "tasks" USING btree ("tenant_id","created_at","id");