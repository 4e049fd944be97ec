using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>
/// Seeded random argv vectors, checked against a small independent model of Go's flag.FlagSet.Parse:
/// the parser never throws, an error always has a message, and a run reports for every flag the
/// value of its last occurrence before the stop point (and nothing for a flag not given).
/// </summary>
public sealed class GoFlagParserPropertyTests
{
    private const int Seed = 20_240_611;
    private const int Vectors = 5_000;

    // The flag table, written out again here rather than read from Flags.All.
    private static readonly Dictionary<string, FlagKind> _known = new(StringComparer.Ordinal)
    {
        ["proto"] = FlagKind.String,
        ["host-ip"] = FlagKind.Ip,
        ["host-port"] = FlagKind.Int,
        ["container-ip"] = FlagKind.Ip,
        ["container-port"] = FlagKind.Int,
        ["use-listen-fd"] = FlagKind.Bool,
        ["v"] = FlagKind.Bool,
        ["version"] = FlagKind.Bool,
        ["log-level"] = FlagKind.String,
        ["log-format"] = FlagKind.String,
    };

    private static readonly string[] _knownNames = [.. _known.Keys];
    private static readonly string[] _unknownNames = ["foo", "Proto", "x", "host", "hostport", "vv", "5", "\u00fc", "log_level"];
    private static readonly string[] _helpNames = ["h", "help"];
    private static readonly string[] _badSyntax = ["---x", "-=x", "--=x", "---", "-=", "---proto=udp", "--=proto"];
    private static readonly string[] _nonFlags = ["x", "run", "", "-", "5", "tcp", "false"];

    private static readonly string[] _goodStrings = ["tcp", "udp", "sctp", "debug", "info", "json", "text", "", "x y", "a=b", "-", "--", "-v"];
    private static readonly string[] _goodInts =
        ["0", "1", "2", "5", "80", "65535", "0x50", "017", "0o17", "0b101", "1_000", "-5", "+7", "9223372036854775807", "-9223372036854775808"];

    private static readonly string[] _rangeInts = ["9223372036854775808", "-9223372036854775809", "99999999999999999999"];
    private static readonly string[] _syntaxInts = ["08", "1__0", "_1", "1_", "0x", "12a", "", " 1", "abc", "1.5"];
    private static readonly string[] _goodIps = ["127.0.0.1", "10.0.0.2", "::1", "::", "fe80::1", "::ffff:127.0.0.1", ""];
    private static readonly string[] _badIps = ["127.1", "1.2.3", "01.2.3.4", "1.2.3.256", "1.2.3.4.5", "fe80::1%eth0", "localhost", "-5"];
    private static readonly string[] _trueBools = ["1", "t", "T", "true", "TRUE", "True"];
    private static readonly string[] _falseBools = ["0", "f", "F", "false", "FALSE", "False"];
    private static readonly string[] _badBools = ["yes", "no", "", "2", "on", "tRUE"];

    private static readonly string[] _allValues =
        [.. _goodStrings, .. _goodInts, .. _rangeInts, .. _syntaxInts, .. _goodIps, .. _badIps, .. _trueBools, .. _falseBools, .. _badBools];

    [Fact]
    public void Random_command_lines_follow_the_model()
    {
        var random = new Random(Seed);
        var failures = new List<string>();
        var outcomes = new Dictionary<FlagParseOutcome, int>
        {
            [FlagParseOutcome.Run] = 0,
            [FlagParseOutcome.Help] = 0,
            [FlagParseOutcome.Error] = 0,
        };
        int runsWithValues = 0;

        for (int n = 0; n < Vectors; n++)
        {
            string[] argv = Generate(random);
            string shown = Show(argv);

            FlagParseResult result;
            try
            {
                result = GoFlagParser.Parse(argv);
            }
            catch (Exception ex)
            {
                failures.Add($"{shown}: threw {ex.GetType().Name}: {ex.Message}");
                continue;
            }

            outcomes[result.Outcome]++;
            (FlagParseOutcome outcome, string? error, Dictionary<string, string> values) = Model(argv);

            if (result.Outcome == FlagParseOutcome.Error && string.IsNullOrEmpty(result.Error))
            {
                failures.Add($"{shown}: Error without a message");
            }

            if (result.Outcome != outcome)
            {
                failures.Add($"{shown}: outcome {result.Outcome} (error: {result.Error}), model {outcome} (error: {error})");
                continue;
            }

            if (outcome == FlagParseOutcome.Error && result.Error != error)
            {
                failures.Add($"{shown}: error \"{result.Error}\", model \"{error}\"");
            }

            if (outcome != FlagParseOutcome.Run)
            {
                continue;
            }

            if (values.Count > 0)
            {
                runsWithValues++;
            }

            foreach (string name in _knownNames)
            {
                string? actual = result.Values.Get(name);
                if (actual is not null && _known[name] == FlagKind.Bool)
                {
                    actual = NormalizeBool(actual) ?? $"<not a bool: {actual}>";
                }

                string? expected = values.TryGetValue(name, out string? value) ? value : null;
                if (actual != expected || result.Values.IsSet(name) != (expected is not null))
                {
                    failures.Add($"{shown}: -{name} is {actual ?? "<unset>"}, model {expected ?? "<unset>"}");
                }
            }
        }

        failures.Should().BeEmpty("{0} of {1} vectors disagree with the model; the first ones:\n{2}",
            failures.Count, Vectors, string.Join("\n", failures.Take(20)));

        // The generator must really exercise each outcome, and runs that set values.
        outcomes[FlagParseOutcome.Run].Should().BeGreaterThan(Vectors / 5);
        outcomes[FlagParseOutcome.Error].Should().BeGreaterThan(Vectors / 10);
        outcomes[FlagParseOutcome.Help].Should().BeGreaterThan(Vectors / 100);
        runsWithValues.Should().BeGreaterThan(Vectors / 10);
    }

    // Go's FlagSet.parseOne, step by step, over the table above. Bool values are kept normalized to
    // "true"/"false"; every other value is kept as given.
    private static (FlagParseOutcome Outcome, string? Error, Dictionary<string, string> Values) Model(string[] argv)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        int i = 0;
        while (i < argv.Length)
        {
            string arg = argv[i++];
            if (arg.Length < 2 || arg[0] != '-')
            {
                break; // the first non-flag argument
            }

            if (arg == "--")
            {
                break;
            }

            string name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            if (name.Length == 0 || name[0] == '-' || name[0] == '=')
            {
                return Failure($"bad flag syntax: {arg}");
            }

            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            if (!_known.TryGetValue(name, out FlagKind kind))
            {
                if (name is "h" or "help")
                {
                    return (FlagParseOutcome.Help, null, new Dictionary<string, string>());
                }

                return Failure($"flag provided but not defined: -{name}");
            }

            if (kind == FlagKind.Bool)
            {
                string? normalized = value is null ? "true" : NormalizeBool(value);
                if (normalized is null)
                {
                    return Failure($"invalid boolean value \"{value}\" for -{name}: parse error");
                }

                values[name] = normalized;
                continue;
            }

            if (value is null)
            {
                if (i == argv.Length)
                {
                    return Failure($"flag needs an argument: -{name}");
                }

                value = argv[i++];
            }

            string? problem = kind switch
            {
                FlagKind.Int when _rangeInts.Contains(value) => "value out of range",
                FlagKind.Int when !_goodInts.Contains(value) => "parse error",
                FlagKind.Ip when !_goodIps.Contains(value) => $"invalid IP address: {value}",
                _ => null,
            };
            if (problem is not null)
            {
                return Failure($"invalid value \"{value}\" for flag -{name}: {problem}");
            }

            values[name] = value;
        }

        return (FlagParseOutcome.Run, null, values);

        static (FlagParseOutcome, string?, Dictionary<string, string>) Failure(string message) =>
            (FlagParseOutcome.Error, message, new Dictionary<string, string>());
    }

    private static string? NormalizeBool(string value) =>
        _trueBools.Contains(value) ? "true" : _falseBools.Contains(value) ? "false" : null;

    private static string[] Generate(Random random)
    {
        var argv = new List<string>();
        int tokens = random.Next(0, 9);
        for (int t = 0; t < tokens; t++)
        {
            int roll = random.Next(100);
            if (roll < 62)
            {
                AddKnownFlag(random, argv);
            }
            else if (roll < 70)
            {
                string name = Pick(random, _unknownNames);
                argv.Add(Dashes(random) + name + (random.Next(2) == 0 ? "" : "=" + Pick(random, _allValues)));
            }
            else if (roll < 73)
            {
                argv.Add(Dashes(random) + Pick(random, _helpNames) + (random.Next(4) == 0 ? "=1" : ""));
            }
            else if (roll < 76)
            {
                argv.Add(Pick(random, _badSyntax));
            }
            else if (roll < 82)
            {
                argv.Add(Pick(random, _nonFlags));
            }
            else if (roll < 86)
            {
                argv.Add("--");
            }
            else
            {
                argv.Add(Pick(random, _allValues));
            }
        }

        return [.. argv];
    }

    private static void AddKnownFlag(Random random, List<string> argv)
    {
        string name = Pick(random, _knownNames);
        FlagKind kind = _known[name];
        string flag = Dashes(random) + name;
        if (kind == FlagKind.Bool)
        {
            argv.Add(random.Next(2) == 0 ? flag : flag + "=" + BoolValue(random));
            return;
        }

        // Mostly a value of the flag's own kind; sometimes anything, or nothing (the next token is taken).
        int roll = random.Next(100);
        string value = roll < 80 ? ValueOfKind(random, kind) : Pick(random, _allValues);
        if (roll >= 95)
        {
            argv.Add(flag);
        }
        else if (random.Next(2) == 0)
        {
            argv.Add(flag + "=" + value);
        }
        else
        {
            argv.Add(flag);
            argv.Add(value);
        }
    }

    private static string ValueOfKind(Random random, FlagKind kind)
    {
        bool good = random.Next(100) < 90;
        return kind switch
        {
            FlagKind.Int => good ? Pick(random, _goodInts) : Pick(random, random.Next(2) == 0 ? _rangeInts : _syntaxInts),
            FlagKind.Ip => Pick(random, good ? _goodIps : _badIps),
            _ => Pick(random, _goodStrings),
        };
    }

    private static string BoolValue(Random random)
    {
        int roll = random.Next(100);
        return roll < 45 ? Pick(random, _trueBools) : roll < 90 ? Pick(random, _falseBools) : Pick(random, _badBools);
    }

    private static string Dashes(Random random) => random.Next(2) == 0 ? "-" : "--";

    private static string Pick(Random random, string[] choices) => choices[random.Next(choices.Length)];

    private static string Show(string[] argv) =>
        "[" + string.Join(", ", argv.Select(a => "\"" + a + "\"")) + "]";

    [Fact]
    public void The_models_value_pools_are_consistent()
    {
        // Guards the test data: a pool string is never both a good and a bad value of one kind.
        _goodInts.Intersect(_rangeInts).Should().BeEmpty();
        _goodInts.Intersect(_syntaxInts).Should().BeEmpty();
        _goodIps.Intersect(_badIps).Should().BeEmpty();
        _trueBools.Intersect(_falseBools).Should().BeEmpty();
        _badBools.Intersect(_trueBools.Concat(_falseBools)).Should().BeEmpty();
        _goodInts.Should().OnlyContain(s => s.Length > 0);
    }
}
