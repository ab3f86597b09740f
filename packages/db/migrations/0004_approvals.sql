CREATE TABLE "approvals" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"task_id" uuid NOT NULL,
	"robot_id" uuid NOT NULL,
	"chatgroup_id" uuid,
	"epoch" bigint NOT NULL,
	"command" text NOT NULL,
	"cwd" text NOT NULL,
	"env_hash" text NOT NULL,
	"binding_hash" text NOT NULL,
	"reason" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"requested_by" uuid NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"decided_by" uuid,
	"decided_at" timestamp with time zone,
	CONSTRAINT "approvals_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_tenant_id_task_id_tasks_tenant_id_id_fk" FOREIGN KEY ("tenant_id","task_id") REFERENCES "public"."tasks"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approvals_tenant_id_status_requested_at_index" ON "approvals" USING btree ("tenant_id","status","requested_at");--> statement-breakpoint
CREATE INDEX "approvals_tenant_id_task_id_index" ON "approvals" USING btree ("tenant_id","task_id");