namespace DockerProxy.Cli;

/// <summary>The result of reading argv with Go's flag rules.</summary>
/// <param name="Outcome">What to do.</param>
/// <param name="Values">The values given (empty on help or error).</param>
/// <param name="Error">Go's wording of the flag error, when Outcome is Error.</param>
internal sealed record FlagParseResult(FlagParseOutcome Outcome, FlagValues Values, string? Error = null);
