// The seam between training and rewards: what the trainer asks of a reward (score completions against
// gold SQL in a database) and what it reads back. reward/'s RewardScorer implements it; tests pass fakes.

export interface ScoreRequest {
  completion: string;
  dbPath: string;
  goldSql: string;
  /** Assistant text the prompt prefilled before the completion (e.g. "<think>\n"); extraction and format checks see it. */
  prefix?: string;
}

export interface Score {
  reward: number;
  /** Each term of the reward (format, execution, ...), summed or weighted into `reward`. */
  components: Record<string, number>;
  /** match, mismatch, error, refused, timeout, no_sql, ... — or an infrastructure failure. */
  status: string;
  sql: string | null;
  /**
   * The score says nothing about the completion (the sandbox failed, the database is missing): the
   * trainer leaves it out of its group's advantage and counts it.
   */
  excluded?: boolean;
}

export interface Scorer<S extends Score = Score> {
  score(items: ScoreRequest[]): Promise<S[]>;
}
