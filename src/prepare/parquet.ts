// verl's training file: a Parquet file written with hyparquet-writer (pure JavaScript, one dependency,
// maintained with its reader hyparquet; it writes nested list<struct> and struct columns with the
// standard three-level LIST layout that pyarrow and Hugging Face `datasets` read). Rows are appended
// in row groups, so the file never has to sit in memory whole.
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import type { VerlRow } from './rows.js';

const utf8 = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });

/** data_source, prompt list<struct<role, content>>, ability, reward_model struct, extra_info struct. */
export const VERL_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: 5 },
  utf8('data_source'),
  { name: 'prompt', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
  utf8('role'),
  utf8('content'),
  utf8('ability'),
  { name: 'reward_model', repetition_type: 'REQUIRED', num_children: 2 },
  utf8('style'),
  utf8('ground_truth'),
  { name: 'extra_info', repetition_type: 'REQUIRED', num_children: 4 },
  utf8('split'),
  { name: 'index', type: 'INT64', repetition_type: 'REQUIRED' },
  utf8('example_id'),
  utf8('db_id'),
];

const COLUMNS = ['data_source', 'prompt', 'ability', 'reward_model', 'extra_info'] as const;

export class VerlParquetWriter {
  private readonly writer: ParquetWriter;
  rows = 0;

  constructor(file: string) {
    this.writer = new ParquetWriter({ writer: fileWriter(file), schema: VERL_SCHEMA, createdBy: 'sqlrl prepare (hyparquet-writer)' });
  }

  /** Appends one row group. */
  write(rows: VerlRow[]): void {
    if (rows.length === 0) return;
    const columnData = COLUMNS.map((name) => ({
      name,
      // INT64 columns take bigint.
      data: name === 'extra_info' ? rows.map((r) => ({ ...r.extra_info, index: BigInt(r.extra_info.index) })) : rows.map((r) => r[name]),
    }));
    void this.writer.write({ columnData, rowGroupSize: rows.length });
    this.rows += rows.length;
  }

  close(): void {
    this.writer.finish();
  }
}
