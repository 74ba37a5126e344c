/**
 * The declarative description of a fixture repository (`fixtures/repos/<name>.yaml`; the format
 * is documented in fixtures/repos/README.md): named people, commits with their files, and the
 * branches and tags that point at them. Validated with zod so a mistake in a description names
 * its key path instead of surfacing as a git error halfway through a build.
 */
import { z } from 'zod';

const OID = /^[0-9a-f]{40}$/;

/** A person as a commit or tag shows them: a key of `people`, or a name and email. */
const PersonSchema = z.union([z.string().min(1), z.strictObject({ name: z.string().min(1), email: z.string() })]);

/** A point in time: ISO 8601 (`2024-03-01T12:00:00Z`) or seconds since the epoch. */
const DateSchema = z.union([z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO 8601 date'), z.number().int().nonnegative()]);

/** Generated text (or binary) content: `bytes` long, lines from `line`, some lines replaced by `insert`. */
const GenerateSchema = z.strictObject({
  /** Exact size in bytes. */
  bytes: z.number().int().nonnegative().max(64 * 1024 * 1024),
  /** Template of every line; `{n}` is the 1-based line number. */
  line: z.string().optional(),
  /** Lines (1-based) replaced by the given text (placeholders allowed). */
  insert: z.record(z.string().regex(/^[1-9][0-9]*$/), z.string()).optional(),
  /** Pseudo-random bytes with NULs (what git calls binary) instead of lines. */
  binary: z.boolean().optional(),
});

/** What one path holds in a commit; `null` deletes it. */
const FileSchema = z.union([
  z.string(),
  z.null(),
  z.strictObject({
    text: z.string().optional(),
    generate: GenerateSchema.optional(),
    executable: z.boolean().optional(),
  }),
  z.strictObject({ symlink: z.string().min(1) }),
  z.strictObject({ submodule: z.string().regex(OID, 'a gitlink needs a 40-hex commit id') }),
]);

/** One commit of the description. */
const CommitSchema = z.strictObject({
  /** The name cases and later commits use for this commit. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  /** Earlier commits' ids; omitted: the previous commit in the list (none for the first); `[]`: a root commit. */
  parents: z.array(z.string()).optional(),
  author: PersonSchema.optional(),
  committer: PersonSchema.optional(),
  date: DateSchema.optional(),
  /** The committer's date when it differs from the author's (a rebase, an amend). */
  committerDate: DateSchema.optional(),
  message: z.string().min(1),
  /** Paths moved before `files` apply: old path → new path. */
  renames: z.record(z.string().min(1), z.string().min(1)).optional(),
  files: z.record(z.string().min(1), FileSchema).optional(),
  /** Carry a (structurally valid, cryptographically meaningless) SSH signature header. */
  signed: z.boolean().optional(),
});

/** An annotated tag; a plain commit id makes a lightweight tag. */
const TagSchema = z.union([
  z.string(),
  z.strictObject({ commit: z.string(), message: z.string().min(1), tagger: PersonSchema.optional(), date: DateSchema.optional() }),
]);

/** A whole fixture repository. */
export const RepoDescriptionSchema = z.strictObject({
  description: z.string().optional(),
  people: z.record(z.string(), z.strictObject({ name: z.string().min(1), email: z.string() })).optional(),
  /** Who authors and commits when a commit names nobody: a key of `people`. */
  defaultAuthor: z.string().optional(),
  commits: z.array(CommitSchema).min(1),
  /** Branch name (without `refs/heads/`) → commit id. */
  branches: z.record(z.string().min(1), z.string()).default({}),
  /** Tag name (without `refs/tags/`) → commit id (lightweight) or an annotated tag. */
  tags: z.record(z.string().min(1), TagSchema).default({}),
  /** Where HEAD points (a branch name); the first branch when omitted. */
  head: z.string().optional(),
});

/** A validated fixture repository description. */
export type RepoDescription = z.infer<typeof RepoDescriptionSchema>;
/** One commit of a description. */
export type CommitDescription = RepoDescription['commits'][number];
/** What a path holds in a described commit. */
export type FileDescription = z.infer<typeof FileSchema>;
/** A person in a description. */
export type PersonDescription = z.infer<typeof PersonSchema>;
/** A date in a description. */
export type DateDescription = z.infer<typeof DateSchema>;
