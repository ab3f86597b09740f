CREATE TABLE "workspace_entries" (
	"tenant_id" uuid NOT NULL,
	"layer" text NOT NULL,
	"layer_id" uuid NOT NULL,
	"path" text NOT NULL,
	"kind" text NOT NULL,
	"file_id" uuid NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"etag" text NOT NULL,
	"size" bigint DEFAULT 0 NOT NULL,
	"content_type" text,
	"sha256" text,
	"updated_by_type" text NOT NULL,
	"updated_by_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_entries_tenant_id_layer_layer_id_path_pk" PRIMARY KEY("tenant_id","layer","layer_id","path"),
	CONSTRAINT "workspace_entries_tenantId_fileId_unique" UNIQUE("tenant_id","file_id"),
	CONSTRAINT "workspace_entries_layer_check" CHECK ("workspace_entries"."layer" in ('tenant', 'team', 'chatgroup')),
	CONSTRAINT "workspace_entries_kind_check" CHECK ("workspace_entries"."kind" in ('file', 'dir', 'whiteout'))
);
--> statement-breakpoint
CREATE TABLE "workspace_usage" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"quota_bytes" bigint
);
--> statement-breakpoint
CREATE TABLE "workspace_versions" (
	"tenant_id" uuid NOT NULL,
	"file_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"sha256" text NOT NULL,
	"size" bigint NOT NULL,
	"content_type" text NOT NULL,
	"etag" text NOT NULL,
	"created_by_type" text NOT NULL,
	"created_by_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_versions_tenant_id_file_id_version_pk" PRIMARY KEY("tenant_id","file_id","version")
);
--> statement-breakpoint
ALTER TABLE "memberships" ADD COLUMN "disabled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "replaced_by" uuid;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "grace_used_at" timestamp with time zone;