/**
 * What `/bin/sh -c SCRIPT` does with the daemon's one-line scripts, for fake execs: the `;`-separated commands run
 * in turn, `echo 'TEXT'` prints TEXT, and every other command is answered by `run` (split on spaces). Stands in
 * for a real shell in an image, which the unit tests have no container for.
 */
export interface CommandAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The script when `cmd` is `/bin/sh -c SCRIPT`, else undefined. */
export function shellScriptOf(cmd: readonly string[]): string | undefined {
  return cmd[0] === '/bin/sh' && cmd[1] === '-c' ? cmd[2] : undefined;
}

export async function runScript(script: string, run: (argv: string[]) => Promise<CommandAnswer> | CommandAnswer): Promise<CommandAnswer> {
  const out: CommandAnswer = { exitCode: 0, stdout: '', stderr: '' };
  for (const command of script.split(';').map((c) => c.trim())) {
    const echoed = /^echo '([^']*)'$/.exec(command);
    const answer = echoed ? { exitCode: 0, stdout: `${echoed[1] ?? ''}\n`, stderr: '' } : await run(command.split(' '));
    out.stdout += answer.stdout;
    out.stderr += answer.stderr;
    out.exitCode = answer.exitCode;
  }
  return out;
}
