using System.CommandLine;
using System.CommandLine.Help;

namespace DockerProxy.Cli;

/// <summary>
/// Usage text, rendered by System.CommandLine from the same flag table the parser reads.
/// It is built only when help or a flag error is printed: the engine's path (a valid argv) never
/// pays for it, which keeps every proxy process small (docs/performance.md).
/// </summary>
internal static class HelpWriter
{
    private const string Description =
        "Relays connections (TCP, UDP, SCTP) from a host address and port to a container's.\n" +
        "A drop-in replacement for Docker's docker-proxy: Go flag syntax (-f v, -f=v, --f v, --f=v);\n" +
        "the last occurrence of a flag wins; options marked with an environment variable can also be set by it.";

    internal static void Write(TextWriter output)
    {
        var root = new RootCommand(Description);
        foreach (FlagSpec spec in Flags.All)
        {
            root.Options.Add(CreateOption(spec));
        }

        // The root command's own -h/--help/-? and --version options would be listed twice; ours are in the table.
        for (int i = root.Options.Count - 1; i >= 0; i--)
        {
            if (root.Options[i] is HelpOption or VersionOption)
            {
                root.Options.RemoveAt(i);
            }
        }

        root.Options.Add(new HelpOption("-h", "-help", "--help"));
        root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output, Error = output });
    }

    private static Option CreateOption(FlagSpec spec)
    {
        string description = spec.Usage;
        if (spec.DefaultText is not null)
        {
            description += $" [default: {spec.DefaultText}]";
        }

        if (spec.EnvironmentVariable is not null)
        {
            description += $" [env: {spec.EnvironmentVariable}]";
        }

        string[] aliases = spec.Name.Length == 1 ? [] : ["--" + spec.Name];
        if (spec.Kind == FlagKind.Bool)
        {
            return new Option<bool>("-" + spec.Name, aliases) { Description = description };
        }

        return new Option<string>("-" + spec.Name, aliases) { Description = description, HelpName = spec.ValueName };
    }
}
