# A small stand-in for nixpkgs' `lib`, enough to evaluate our modules offline.
#
# Owns: the option and type constructors our modules use, the properties
# (mkIf, mkMerge, mkOverride and its aliases) with nixpkgs' priority rules,
# and `evalModules`: imports, option declarations, lazily pushed-down
# definitions merged per type, and a separate pass that reports definitions
# of options nobody declared. nixpkgs cannot be downloaded on the machines
# this runs on; where this file and nixpkgs differ, nixpkgs is right and
# this file is fixed.
let
  inherit (builtins)
    all
    any
    attrNames
    concatMap
    concatStringsSep
    elem
    filter
    foldl'
    functionArgs
    genList
    head
    intersectAttrs
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    removeAttrs
    stringLength
    substring
    tail
    toJSON
    ;

  showLoc = loc: concatStringsSep "." loc;
  lastOf = list: builtins.elemAt list (length list - 1);
  unique = list: foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ] list;
  isType = t: v: isAttrs v && (v._type or null) == t;

  # ---------------------------------------------------------------- properties
  defaultPriority = 100;
  optionDefaultPriority = 1500;
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };

  # Evaluates conditions: a definition becomes a list of {value, priority}.
  discharge =
    value:
    if isType "merge" value then
      concatMap discharge value.contents
    else if isType "if" value then
      (if value.condition then discharge value.content else [ ])
    else if isType "override" value then
      map (d: d // { inherit (value) priority; }) (discharge value.content)
    else
      [
        {
          inherit value;
          priority = defaultPriority;
        }
      ];

  # Moves properties one attribute down without evaluating any condition, so
  # `config = mkIf cfg.enable { ... }` can depend on `config` itself.
  pushDown =
    name: value:
    if isType "merge" value then
      concatMap (pushDown name) value.contents
    else if isType "if" value then
      map (mkIf value.condition) (pushDown name value.content)
    else if isType "override" value then
      map (mkOverride value.priority) (pushDown name value.content)
    else if isAttrs value then
      (if value ? ${name} then [ value.${name} ] else [ ])
    else
      throw "a definition that should be an attribute set is not: ${toJSON value}";

  # ---------------------------------------------------------------- options
  mkOption =
    args:
    args
    // {
      _type = "option";
      type = args.type or types.unspecified;
    };
  mkEnableOption = what: mkOption {
    type = types.bool;
    default = false;
    description = "Whether to enable ${what}.";
  };
  isOption = isType "option";

  # ---------------------------------------------------------------- types
  mkType =
    {
      name,
      check,
      merge ? mergeEqual,
      checkDefs ? _loc: _defs: [ ],
    }:
    {
      _type = "type";
      inherit
        name
        check
        merge
        checkDefs
        ;
    };

  mergeEqual =
    loc: defs:
    let
      first = (head defs).value;
    in
    if all (d: d.value == first) defs then
      first
    else
      throw "The option `${showLoc loc}' has conflicting definitions: ${toJSON (map (d: d.value) defs)}";

  mergeRecursive =
    loc: defs:
    if all (d: isAttrs d.value && !(d.value ? outPath)) defs then
      let
        names = unique (concatMap (d: attrNames d.value) defs);
      in
      listToAttrs (
        map (n: {
          name = n;
          value = mergeRecursive (loc ++ [ n ]) (
            concatMap (d: if d.value ? ${n} then discharge d.value.${n} else [ ]) defs
          );
        }) names
      )
    else
      mergeEqual loc defs;

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";
  isStorePathLike = v: isPath v || (isString v && substring 0 1 v == "/") || (isAttrs v && v ? outPath);

  # A type whose definitions merge only when they are all equal, as nixpkgs'
  # scalar types do: its name and the test every value must pass.
  scalar = name: check: mkType { inherit name check; };

  types = rec {
    unspecified = scalar "unspecified" (_: true);
    anything = mkType {
      name = "anything";
      check = _: true;
      merge = mergeRecursive;
    };
    raw = unspecified;
    attrs = mkType {
      name = "attrs";
      check = isAttrs;
      merge = mergeRecursive;
    };
    bool = scalar "bool" isBool;
    str = scalar "str" isString;
    singleLineStr = str;
    lines = mkType {
      name = "lines";
      check = isString;
      merge = _loc: defs: concatStringsSep "\n" (map (d: d.value) defs);
    };
    int = scalar "int" isInt;
    ints = {
      between =
        lo: hi: scalar "int between ${toString lo} and ${toString hi}" (v: isInt v && v >= lo && v <= hi);
      positive = scalar "positive int" (v: isInt v && v > 0);
      unsigned = scalar "unsigned int" (v: isInt v && v >= 0);
    };
    port = ints.between 0 65535;
    path = scalar "absolute path" isStorePathLike;
    package = scalar "package" (v: isDerivation v || isStorePathLike v);
    enum = values: scalar "one of ${toJSON values}" (v: elem v values);
    nullOr =
      elemType:
      mkType {
        name = "null or ${elemType.name}";
        check = v: v == null || elemType.check v;
        merge = loc: defs: if all (d: d.value == null) defs then null else elemType.merge loc defs;
        inherit (elemType) checkDefs;
      };
    either =
      a: b:
      mkType {
        name = "${a.name} or ${b.name}";
        check = v: a.check v || b.check v;
        merge = loc: defs: if all (d: a.check d.value) defs then a.merge loc defs else b.merge loc defs;
      };
    oneOf = ts: foldl' either (head ts) (tail ts);
    listOf =
      elemType:
      mkType {
        name = "list of ${elemType.name}";
        check = v: isList v && all elemType.check v;
        merge = _loc: defs: concatMap (d: d.value) defs;
      };
    nonEmptyListOf =
      elemType:
      let
        list = listOf elemType;
      in
      list
      // {
        name = "non-empty ${list.name}";
        check = v: list.check v && v != [ ];
      };
    strMatching =
      pattern: scalar "string matching the pattern ${pattern}" (v: isString v && builtins.match pattern v != null);
    attrsOf =
      elemType:
      mkType {
        name = "attribute set of ${elemType.name}";
        check = isAttrs;
        merge =
          loc: defs:
          let
            names = unique (concatMap (d: attrNames d.value) defs);
            # Priorities were already chosen for the whole option; each
            # element's own properties are resolved one level down.
            elemDefs = n: map (d: d.value.${n}) (filter (d: d.value ? ${n}) defs);
          in
          listToAttrs (
            map (n: {
              name = n;
              value = evalLeaf (loc ++ [ n ]) { type = elemType; } (elemDefs n);
            }) names
          );
        checkDefs =
          loc: defs:
          let
            plain = filter isAttrs (map (d: d.value) (concatMap discharge defs));
          in
          concatMap (
            n: elemType.checkDefs (loc ++ [ n ]) (concatMap (v: if v ? ${n} then [ v.${n} ] else [ ]) plain)
          ) (unique (concatMap attrNames plain));
      };
    lazyAttrsOf = attrsOf;
    # `options` may be a function of the element's { name }, for defaults
    # such as agenix's "/run/agenix/${name}".
    submodule =
      options:
      let
        optionsAt = loc: if isFunction options then options { name = lastOf loc; } else options;
      in
      mkType {
        name = "submodule";
        check = isAttrs;
        merge = loc: defs: evalTree loc (optionsAt loc) (map (d: d.value) defs);
        checkDefs = loc: defs: unknownDefinitions loc (optionsAt loc) defs;
      };
  };

  # ---------------------------------------------------------------- merging
  evalLeaf =
    loc: opt: rawDefs:
    let
      defs =
        concatMap discharge rawDefs
        ++ (
          if opt ? default then
            [
              {
                value = opt.default;
                priority = optionDefaultPriority;
              }
            ]
          else
            [ ]
        );
      best = foldl' (m: d: if d.priority < m then d.priority else m) 100000 defs;
      chosen = filter (d: d.priority == best) defs;
      merged = opt.type.merge loc chosen;
    in
    if defs == [ ] then
      throw "The option `${showLoc loc}' is used but not defined."
    else if opt.type.check merged then
      merged
    else
      throw "The option `${showLoc loc}' is not of type `${opt.type.name}': ${toJSON merged}";

  evalTree =
    loc: tree: rawDefs:
    if isOption tree then
      evalLeaf loc tree rawDefs
    else
      mapAttrs (name: sub: evalTree (loc ++ [ name ]) sub (concatMap (pushDown name) rawDefs)) tree;

  # Every definition path that no option declares, as readable errors.
  unknownDefinitions =
    loc: tree: rawDefs:
    if isOption tree then
      tree.type.checkDefs loc rawDefs
    else
      let
        plain = map (d: d.value) (concatMap discharge rawDefs);
        names = unique (concatMap (v: if isAttrs v then attrNames v else [ "<not an attribute set>" ]) plain);
        undeclared = filter (n: !(tree ? ${n})) names;
      in
      map (n: "The option `${showLoc (loc ++ [ n ])}' does not exist.") undeclared
      ++ concatMap (
        n: unknownDefinitions (loc ++ [ n ]) tree.${n} (concatMap (pushDown n) rawDefs)
      ) (filter (n: tree ? ${n}) names);

  mergeOptionTrees =
    loc: a: b:
    if isOption a || isOption b then
      throw "The option `${showLoc loc}' is declared twice."
    else
      a
      // mapAttrs (n: v: if a ? ${n} then mergeOptionTrees (loc ++ [ n ]) a.${n} v else v) b;

  # ---------------------------------------------------------------- modules
  evalModules =
    {
      modules,
      specialArgs ? { },
    }:
    let
      args = specialArgs // {
        inherit config options lib;
      };
      load =
        m:
        let
          key = if isPath m || isString m then toString m else null;
          imported = if isPath m || isString m then import m else m;
          value =
            if isFunction imported then imported (intersectAttrs (functionArgs imported) args) else imported;
          structured = value ? options || value ? config;
        in
        {
          inherit key;
          options = value.options or { };
          config =
            if structured then
              value.config or { }
            else
              removeAttrs value [
                "imports"
                "meta"
                "_file"
                "key"
              ];
          imports = value.imports or [ ];
        };
      collect =
        seen: list:
        if list == [ ] then
          {
            inherit seen;
            loaded = [ ];
          }
        else
          let
            m = load (head list);
            skip = m.key != null && elem m.key seen;
            seen' = if m.key != null then seen ++ [ m.key ] else seen;
            inner = if skip then { seen = seen'; loaded = [ ]; } else collect seen' m.imports;
            rest = collect inner.seen (tail list);
          in
          {
            inherit (rest) seen;
            loaded = (if skip then [ ] else [ m ]) ++ inner.loaded ++ rest.loaded;
          };
      loaded = (collect [ ] modules).loaded;
      options = foldl' (mergeOptionTrees [ ]) { } (map (m: m.options) loaded);
      definitions = map (m: m.config) loaded;
      config = evalTree [ ] options definitions;
    in
    {
      inherit config options;
      undeclared = unknownDefinitions [ ] options definitions;
    };

  # ---------------------------------------------------------------- the rest
  lib = {
    inherit
      mkOption
      mkEnableOption
      mkIf
      mkMerge
      mkOverride
      types
      evalModules
      ;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkOptionDefault = mkOverride optionDefaultPriority;
    mkPackageOption =
      pkgs: name:
      {
        default ? name,
        extraDescription ? "",
      }:
      mkOption {
        type = types.package;
        default = pkgs.${default} or (throw "${default} cannot be found in pkgs");
        defaultText = lib.literalExpression "pkgs.${default}";
        description = "The ${name} package to use." + lib.optionalString (extraDescription != "") " ${extraDescription}";
      };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };

    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    optionalAttrs = cond: set: if cond then set else { };
    concatStringsSep = concatStringsSep;
    concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
    replaceStrings = builtins.replaceStrings;
    hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
    hasInfix = infix: s: stringLength (builtins.replaceStrings [ infix ] [ "" ] s) != stringLength s;
    removePrefix =
      prefix: s:
      if substring 0 (stringLength prefix) s == prefix then
        substring (stringLength prefix) (stringLength s) s
      else
        s;
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    mapAttrs = mapAttrs;
    "mapAttrs'" = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    nameValuePair = name: value: { inherit name value; };
    toIntBase10 = s: builtins.fromJSON s;
    attrValues = builtins.attrValues;
    attrNames = attrNames;
    filterAttrs =
      pred: set: removeAttrs set (filter (n: !(pred n set.${n})) (attrNames set));
    recursiveUpdate =
      let
        update =
          lhs: rhs:
          lhs
          // mapAttrs (
            n: v:
            if lhs ? ${n} && isAttrs lhs.${n} && isAttrs v && !(v ? outPath) then update lhs.${n} v else v
          ) rhs;
      in
      update;
    elem = elem;
    any = any;
    all = all;
    genList = genList;
    length = length;
    getName = drv: drv.pname or (builtins.parseDrvName drv.name).name;
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
    "getExe'" = drv: name: "${drv}/bin/${name}";
    fileset = {
      toSource =
        { root, fileset }:
        {
          _type = "fileset-source";
          inherit root fileset;
          outPath = "/nix/store/00000000000000000000000000000000-source";
        };
      unions = list: list;
    };
    licenses.mit = {
      spdxId = "MIT";
    };
    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
in
lib
