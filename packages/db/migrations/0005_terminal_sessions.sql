CREATE TABLE "terminal_sessions" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"robot_id" uuid NOT NULL,
	"opened_by" uuid NOT NULL,
	"chatgroup_id" uuid,
	"task_id" uuid,
	"status" text DEFAULT 'opening' NOT NULL,
	"cols" integer NOT NULL,
	"rows" integer NOT NULL,
	"recording" boolean DEFAULT false NOT NULL,
	"connection_id" text,
	"opened_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone,
	"exit_code" integer,
	"close_reason" text,
	"closed_by" uuid,
	CONSTRAINT "terminal_sessions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "terminal_settings" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"record_transcripts" boolean DEFAULT false NOT NULL,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "terminal_sessions" ADD CONSTRAINT "terminal_sessions_tenant_id_robot_id_robots_tenant_id_id_fk" FOREIGN KEY ("tenant_id","robot_id") REFERENCES "public"."robots"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "terminal_sessions_tenant_id_opened_at_index" ON "terminal_sessions" USING btree ("tenant_id","opened_at");--> statement-breakpoint
CREATE INDEX "terminal_sessions_tenant_id_robot_id_status_index" ON "terminal_sessions" USING btree ("tenant_id","robot_id","status");