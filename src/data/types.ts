// One text-to-SQL example, whatever dataset it came from.

export interface Example {
  /** Stable id within its dataset, e.g. `spider-dev-0042`. */
  id: string;
  /** Position in dataset order (0-based). */
  index: number;
  question: string;
  dbId: string;
  /** Absolute path of the SQLite file. */
  dbPath: string;
  goldSql: string;
  /** BIRD's external knowledge, prepended to the question in prompts. */
  evidence?: string;
  /** Dataset's own difficulty label (BIRD: simple/moderate/challenging; synthetic: template family). */
  difficulty?: string;
}
