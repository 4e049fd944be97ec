namespace DockerProxy.Cli;

/// <summary>
/// Reads argv exactly as Go's flag package does (go/src/flag/flag.go, FlagSet.parseOne), because
/// dockerd, rootless wrappers, systemd units and shell scripts all call the original that way:
/// <c>-f v</c>, <c>-f=v</c>, <c>--f v</c>, <c>--f=v</c>; bools as <c>-f</c> or <c>-f=BOOL</c>; any order;
/// the last occurrence wins; parsing stops at the first non-flag argument or after <c>--</c>;
/// values are checked as they are set, so a bad number or address is a flag error.
/// </summary>
internal static class GoFlagParser
{
    internal static FlagParseResult Parse(IReadOnlyList<string> args)
    {
        var values = new FlagValues();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg.Length < 2 || arg[0] != '-')
            {
                break; // the first non-flag argument ends the flags; Go ignores the rest
            }

            int dashes = 1;
            if (arg[1] == '-')
            {
                dashes = 2;
                if (arg.Length == 2)
                {
                    break; // "--" terminates the flags
                }
            }

            string name = arg[dashes..];
            if (name.Length == 0 || name[0] == '-' || name[0] == '=')
            {
                return Fail($"bad flag syntax: {arg}");
            }

            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            FlagSpec? spec = Flags.Find(name);
            if (spec is null)
            {
                return name is "help" or "h"
                    ? new FlagParseResult(FlagParseOutcome.Help, new FlagValues())
                    : Fail($"flag provided but not defined: -{name}");
            }

            if (spec.Kind == FlagKind.Bool)
            {
                if (value is null)
                {
                    value = "true";
                }
                else if (GoSyntax.ParseBool(value) is not bool)
                {
                    return Fail($"invalid boolean value {GoSyntax.Quote(value)} for -{name}: parse error");
                }
            }
            else if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    return Fail($"flag needs an argument: -{name}");
                }

                value = args[++i]; // the next argument, whatever it looks like, as Go does
            }

            string? problem = Check(spec.Kind, value);
            if (problem is not null)
            {
                return Fail($"invalid value {GoSyntax.Quote(value)} for flag -{name}: {problem}");
            }

            if (spec.Kind == FlagKind.StringList)
            {
                values.Add(name, value);
            }
            else
            {
                values.Set(name, value);
            }
        }

        return new FlagParseResult(FlagParseOutcome.Run, values);
    }

    private static string? Check(FlagKind kind, string value) => kind switch
    {
        FlagKind.Int => GoSyntax.ParseInt(value, out _) switch
        {
            GoIntResult.Ok => null,
            GoIntResult.OutOfRange => "value out of range",
            _ => "parse error",
        },
        FlagKind.Ip => GoSyntax.ParseIp(value) is null && value.Length != 0 ? $"invalid IP address: {value}" : null,
        FlagKind.Duration => GoDuration.TryParse(value, out _) ? null : $"time: invalid duration {GoSyntax.Quote(value)}",
        _ => null,
    };

    private static FlagParseResult Fail(string message) =>
        new(FlagParseOutcome.Error, new FlagValues(), message);
}
