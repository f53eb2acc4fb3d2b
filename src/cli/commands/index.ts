// Every `sqlrl` subcommand, registered in this order (one import per command module).
import type { Command } from 'commander';
import { register as compare } from './compare.js';
import { register as dashboard } from './dashboard.js';
import { register as demo } from './demo.js';
import { register as evaluate } from './eval.js';
import { register as merge } from './merge.js';
import { register as prepare } from './prepare.js';
import { register as serve } from './serve.js';
import { register as serveModel } from './serve-model.js';
import { register as train } from './train.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  compare,
  dashboard,
  demo,
  evaluate,
  merge,
  prepare,
  serve,
  serveModel,
  train,
];
