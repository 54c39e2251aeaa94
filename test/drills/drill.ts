/** What a drill reports: its figures, and every guarantee it saw broken (empty when all held). */
export interface DrillResult {
  figures: string[];
  lost: string[];
}
