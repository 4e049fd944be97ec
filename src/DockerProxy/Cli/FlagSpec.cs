namespace DockerProxy.Cli;

/// <summary>One flag of the command line: its Go name (no dashes), how it is read, its help text.</summary>
/// <param name="Name">The name after the dash, e.g. <c>host-ip</c>.</param>
/// <param name="Kind">How the value is read.</param>
/// <param name="Usage">One line of help.</param>
/// <param name="ValueName">What the help calls its value, e.g. <c>IP</c>; null for a bool flag.</param>
/// <param name="DefaultText">The default as the help shows it; null when there is none.</param>
/// <param name="EnvironmentVariable">For options beyond the original's: the variable that also sets it.</param>
internal sealed record FlagSpec(
    string Name,
    FlagKind Kind,
    string Usage,
    string? ValueName = null,
    string? DefaultText = null,
    string? EnvironmentVariable = null);
